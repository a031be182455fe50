// Opaque TCP through the waypoint: what is neither HTTP/1.1 nor HTTP/2. Only L4 policy applies
// (an ALLOW rule with L7 fields matches nothing; a DENY keeps its L4 part — evaluateL4); the
// connection goes to one endpoint of the destination, over HBONE, and bytes are piped.

import type { Duplex } from 'node:stream';
import { pipeBidirectional } from '@ambit/core/hbone/pipe';
import { tcpLabels } from '@ambit/core/metrics/istio-labels';
import { evaluateL4 } from '@ambit/core/policy/evaluate';
import type { Logger } from '@ambit/core/log';
import { policiesFor, type WaypointName } from '../layers/authorize.ts';
import type { ConnectionInfo } from '../http/types.ts';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';
import type { Balancer } from '../upstream/balancer.ts';
import type { UpstreamPools } from '../upstream/upstream-pools.ts';
import type { WaypointMetrics } from '../telemetry/metrics.ts';

export interface TcpProxyDeps {
  self: WaypointName;
  balancer: Balancer;
  pools: UpstreamPools;
  metrics: WaypointMetrics;
  accessLog: Logger;
}

export async function proxyTcp(
  client: Duplex,
  conn: ConnectionInfo,
  snapshot: WaypointSnapshot,
  deps: TcpProxyDeps,
): Promise<void> {
  const started = performance.now();
  const t = conn.target;
  const policies = policiesFor(snapshot, { conn }, deps.self);
  const decision = evaluateL4(policies, {
    sourceId: conn.peerId,
    sourceIp: conn.sourceIp,
    destinationIp: t.ip,
    destinationPort: t.port,
  });
  const labels = (flags: string, dst?: ConnectionInfo['source']) => ({
    ...tcpLabels({
      reporter: 'destination',
      source: conn.source,
      sourcePrincipal: conn.peerId,
      destination: dst,
      destinationService: t.kind === 'service' ? t.service : undefined,
      requestProtocol: 'tcp',
      responseFlags: flags,
      connectionSecurityPolicy: 'mutual_tls',
    }),
    reporter: 'waypoint',
  });
  const log = (fields: Record<string, unknown>): void =>
    deps.accessLog.info('connection', {
      src: { identity: conn.peerId, ip: conn.sourceIp },
      dst: `${t.ip}:${t.port}`,
      protocol: 'tcp',
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      ...fields,
    });
  if (!decision.allowed) {
    client.destroy();
    deps.metrics.tcp.opened.inc(labels('DENY'));
    deps.metrics.tcp.closed.inc(labels('DENY'));
    log({ flags: 'DENY', reason: decision.reason });
    return;
  }
  let upstream: Duplex;
  let dst: ConnectionInfo['source'];
  try {
    const target =
      t.kind === 'service'
        ? ({ kind: 'service', service: t.service, port: t.port } as const)
        : ({ kind: 'workload', workload: t.workload, port: t.port } as const);
    const { endpoint } = deps.balancer.pick(snapshot, target);
    dst = endpoint.workload;
    upstream = await deps.pools.tunnel(endpoint);
  } catch (err) {
    client.destroy();
    deps.metrics.tcp.opened.inc(labels('CONNECT', dst));
    deps.metrics.tcp.closed.inc(labels('CONNECT', dst));
    log({ flags: 'CONNECT', error: err });
    return;
  }
  const l = labels('-', dst);
  deps.metrics.tcp.opened.inc(l);
  const r = await pipeBidirectional(client, upstream);
  deps.metrics.tcp.receivedBytes.inc(l, r.aToB);
  deps.metrics.tcp.sentBytes.inc(l, r.bToA);
  deps.metrics.tcp.closed.inc(l);
  log({ flags: '-', bytesIn: r.aToB, bytesOut: r.bToA, ...(r.error && { error: r.error }) });
}
