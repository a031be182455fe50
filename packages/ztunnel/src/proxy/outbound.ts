// Outbound, the "do" half (outbound-plan.ts decides): identify the source workload, plan, then open
// the upstream — an HBONE stream from the pool with the source's certificate, or plain TCP — and
// only then let the caller answer its client (SOCKS5/CONNECT success) and pipe. Every outcome is
// reported once through ConnectionTelemetry: earlyDeny for a refused plan, open/close otherwise.

import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { MeshError } from '@ambit/core/errors';
import { dialTcp } from '@ambit/core/hbone/dial-tcp';
import { pipeBidirectional, resetDuplex } from '@ambit/core/hbone/pipe';
import { tunnelInfo, type HbonePool } from '@ambit/core/hbone/pool';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { Logger } from '@ambit/core/log';
import { canonicalIp, formatHostPort, type IpAddr, type PodIp } from '@ambit/core/mesh/ip';
import type { Workload } from '@ambit/core/mesh/types';
import { RESPONSE_FLAGS } from '@ambit/core/metrics/istio-labels';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import type { ConnectionInfo, ConnectionTelemetry } from '../telemetry/connection-telemetry.ts';
import type { CloseCause, ConnectionRegistry } from './connection-registry.ts';
import {
  planOutbound,
  type HboneOutboundPlan,
  type OutboundDenyCode,
  type PassthroughOutboundPlan,
} from './outbound-plan.ts';

/** How an outbound connection failed, coarse enough for a SOCKS5 reply code or an HTTP status. */
export type OutboundFailureKind =
  /** Refused by ztunnel or the destination: unknown source, not local, policy (SOCKS 0x02, HTTP 403). */
  | 'not-allowed'
  /** No route: no such service port, no healthy endpoint, HBONE peer unreachable (SOCKS 0x04, HTTP 502/503). */
  | 'unreachable'
  /** The destination refused the TCP connection (SOCKS 0x05, HTTP 502). */
  | 'refused'
  /** Anything else: certificate unavailable, wrong peer identity (SOCKS 0x01, HTTP 502). */
  | 'failed';

export interface OutboundFailure {
  kind: OutboundFailureKind;
  /** For the operator (logged; also in the HTTP CONNECT answer's body). */
  reason: string;
}

/** An upstream that is open: answer the client, then `run`. */
export interface OutboundTunnel {
  readonly plan: HboneOutboundPlan | PassthroughOutboundPlan;
  /** Pipes the client's connection with the upstream until both directions end or one resets. */
  run(downstream: Duplex): Promise<void>;
  /** The client left before `run`: close the upstream. */
  abandon(reason: string): void;
}

export type OutboundResult =
  { ok: true; tunnel: OutboundTunnel } | { ok: false; failure: OutboundFailure };

export interface OutboundRequest {
  /** The client's address: its IP names the source workload (explicit mode) or is the captured pod's. */
  client: { host: string; port: number };
  /** Where the application wants to go. */
  destination: { ip: IpAddr; port: number };
  /** The source workload when the caller knows it (in-pod capture: the pod that accepted). */
  source?: Workload;
}

export interface OutboundDeps {
  nodeName: string;
  hbonePort: number;
  state: () => MeshSnapshot;
  certs: { get(id: SpiffeId): Promise<TlsIdentity> };
  pool: HbonePool;
  telemetry: ConnectionTelemetry;
  registry: ConnectionRegistry;
  log: Logger;
  /** Plain TCP connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Opens passthrough TCP (default dialTcp; in-pod: from inside the source pod's netns). */
  dialTcp?: typeof dialTcp;
}

const PLAN_DENY: Record<OutboundDenyCode, { kind: OutboundFailureKind; flags: string }> = {
  SOURCE_NOT_LOCAL: { kind: 'not-allowed', flags: RESPONSE_FLAGS.authorizationPolicyDenied },
  SOURCE_NOT_IN_MESH: { kind: 'not-allowed', flags: RESPONSE_FLAGS.authorizationPolicyDenied },
  NO_SERVICE_PORT: { kind: 'unreachable', flags: RESPONSE_FLAGS.connectionFailure },
  NO_HEALTHY_ENDPOINT: { kind: 'unreachable', flags: RESPONSE_FLAGS.connectionFailure },
  NO_HEALTHY_WAYPOINT: { kind: 'unreachable', flags: RESPONSE_FLAGS.connectionFailure },
};

/** response_flags for a connection ztunnel closed itself. */
export function closeCauseFlags(cause: CloseCause): string {
  return cause.kind === 'drain' ? 'UNKNOWN' : RESPONSE_FLAGS.authorizationPolicyDenied;
}

export class OutboundProxy {
  readonly #d: OutboundDeps;

  constructor(deps: OutboundDeps) {
    this.#d = deps;
  }

  /** The local workload whose IP is `ip` (how explicit mode names the source), if any. */
  sourceFor(snapshot: MeshSnapshot, ip: string): Workload | undefined {
    const w = snapshot.workloadsByIp.get((canonicalIp(ip) ?? ip) as PodIp);
    return w?.node === this.#d.nodeName ? w : undefined;
  }

  /** Identify the source, plan, open the upstream. Never rejects. */
  async open(req: OutboundRequest): Promise<OutboundResult> {
    const d = this.#d;
    const snapshot = d.state();
    const clientIp = canonicalIp(req.client.host) ?? req.client.host;
    const dest = formatHostPort(req.destination.ip, req.destination.port);
    const source = req.source ?? this.sourceFor(snapshot, clientIp);
    if (source === undefined) {
      const owner = snapshot.workloadsByIp.get(clientIp as PodIp);
      const reason =
        owner === undefined
          ? `no workload has the client's address ${clientIp}: bind the client to its workload's IP (e.g. curl --interface <workload ip>)`
          : `${clientIp} is workload ${owner.namespace}/${owner.name} on node ${owner.node}, not on this ztunnel's node ${d.nodeName}`;
      d.telemetry.earlyDeny(
        {
          reporter: 'source',
          sourceAddress: { host: clientIp, port: req.client.port },
          destinationAddress: { host: req.destination.ip, port: req.destination.port },
          connectionSecurityPolicy: 'none',
          protocol: 'TCP',
        },
        RESPONSE_FLAGS.authorizationPolicyDenied,
        reason,
      );
      return { ok: false, failure: { kind: 'not-allowed', reason } };
    }

    const plan = planOutbound(
      snapshot,
      { source, destination: req.destination },
      {
        nodeName: d.nodeName,
        hbonePort: d.hbonePort,
        activeConnections: (w) => d.registry.activeTo(w),
      },
    );
    const info: ConnectionInfo = {
      reporter: 'source',
      source,
      sourceAddress: { host: clientIp, port: req.client.port },
      destinationAddress: { host: req.destination.ip, port: req.destination.port },
      connectionSecurityPolicy: plan.kind === 'hbone' ? 'mutual_tls' : 'none',
      protocol: plan.kind === 'hbone' ? 'HBONE' : 'TCP',
    };
    if (plan.service) info.destinationService = plan.service;

    if (plan.kind === 'deny') {
      const { kind, flags } = PLAN_DENY[plan.code];
      d.telemetry.earlyDeny(info, flags, plan.reason);
      return { ok: false, failure: { kind, reason: plan.reason } };
    }

    if (plan.endpoint) info.destination = plan.endpoint;
    info.destinationAddress = { host: plan.destination.host, port: plan.destination.port };
    let upstream: Duplex;
    if (plan.kind === 'hbone') {
      info.sourcePrincipal = plan.sourceIdentity;
      info.destinationPrincipal = plan.expectedPeers[0];
      try {
        const identity = await d.certs.get(plan.sourceIdentity);
        upstream = await d.pool.connect({
          address: plan.hboneAddress,
          authority: plan.authority,
          source: identity,
          expectedPeers: plan.expectedPeers,
          // The source workload's IP: sessions per source address, bound to it, so the peer's
          // policy can trust the TCP peer address (docs/hbone.md).
          ...(source.ips.includes(clientIp as PodIp) && { sourceAddress: clientIp }),
          headers: {
            forwarded: `for="${formatHostPort(clientIp, req.client.port)}"`,
            baggage: baggageFor(source),
            traceparent: newTraceparent(),
          },
        });
      } catch (err) {
        return this.#failed(info, hboneFailure(err as Error, plan));
      }
      const verified = tunnelInfo(upstream)?.peerId;
      if (verified !== undefined) info.destinationPrincipal = verified;
    } else {
      try {
        upstream = await (d.dialTcp ?? dialTcp)(plan.destination, undefined, d.connectTimeoutMs);
      } catch (err) {
        return this.#failed(info, tcpFailure(err as Error, dest));
      }
    }
    return { ok: true, tunnel: this.#tunnel(plan, info, upstream) };
  }

  #failed(info: ConnectionInfo, failure: OutboundFailure): OutboundResult {
    const flags =
      failure.kind === 'not-allowed'
        ? RESPONSE_FLAGS.authorizationPolicyDenied
        : RESPONSE_FLAGS.connectionFailure;
    this.#d.telemetry.open(info).close({ responseFlags: flags, error: new Error(failure.reason) });
    return { ok: false, failure };
  }

  #tunnel(
    plan: HboneOutboundPlan | PassthroughOutboundPlan,
    info: ConnectionInfo,
    upstream: Duplex,
  ): OutboundTunnel {
    const d = this.#d;
    const handle = d.telemetry.open(info);
    let started = false;
    return {
      plan,
      abandon(reason) {
        if (started) return;
        started = true;
        resetDuplex(upstream);
        handle.close({ error: new Error(reason) });
      },
      async run(downstream) {
        if (started) throw new Error('outbound tunnel already used');
        started = true;
        let cause: CloseCause | undefined;
        const remove = d.registry.add({
          direction: 'outbound',
          workload: plan.endpoint,
          close(c) {
            cause = c;
            const err = new Error(c.reason);
            resetDuplex(upstream, err);
            resetDuplex(downstream, err);
          },
        });
        const piping = pipeBidirectional(downstream, upstream);
        // Count as bytes flow (pipe's own listeners were attached first, in the same tick).
        downstream.on('data', (c: Buffer) => handle.sent(c.length));
        upstream.on('data', (c: Buffer) => handle.received(c.length));
        downstream.resume(); // a listener may have paused it while reading the request
        const r = await piping;
        remove();
        if (cause)
          handle.close({ responseFlags: closeCauseFlags(cause), error: new Error(cause.reason) });
        else handle.close(r.error ? { error: r.error } : {});
      },
    };
  }
}

function hboneFailure(err: Error, plan: HboneOutboundPlan): OutboundFailure {
  const code = err instanceof MeshError ? err.code : undefined;
  const peer = formatHostPort(plan.hboneAddress.host, plan.hboneAddress.port);
  if (code === 'AMBIT_HBONE_DENIED') {
    return {
      kind: 'not-allowed',
      reason: `the destination's ztunnel at ${peer} denied ${plan.sourceIdentity} (401: authorization policy)`,
    };
  }
  if (code === 'AMBIT_HBONE_UPSTREAM') {
    return {
      kind: 'refused',
      reason: `the destination's ztunnel at ${peer} could not reach ${plan.authority} (503): ${err.message}`,
    };
  }
  if (code === 'AMBIT_HBONE_CONNECT') {
    return {
      kind: 'unreachable',
      reason: `HBONE connection to ${peer} failed: ${err.message}; is ztunnel running on the destination's node, and is port ${plan.hboneAddress.port} reachable?`,
    };
  }
  return { kind: 'failed', reason: `HBONE to ${peer} failed: ${err.message}` };
}

function tcpFailure(err: Error, dest: string): OutboundFailure {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return { kind: 'refused', reason: `${dest} refused the connection` };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timed out/.test(err.message)) {
    return { kind: 'unreachable', reason: `${dest} is unreachable: ${err.message}` };
  }
  return { kind: 'failed', reason: `connecting to ${dest} failed: ${err.message}` };
}

/** W3C baggage with the source workload's metadata (istio/ztunnel's keys). */
function baggageFor(w: Workload): string {
  const enc = encodeURIComponent;
  return [
    `k8s.namespace.name=${enc(w.namespace)}`,
    `k8s.pod.name=${enc(w.name)}`,
    `k8s.workload.name=${enc(w.workloadName)}`,
    `service.name=${enc(w.canonicalName)}`,
    `service.version=${enc(w.canonicalRevision)}`,
  ].join(',');
}

/** A new W3C trace context (sampled), one per connection. */
function newTraceparent(): string {
  const b = randomBytes(24).toString('hex');
  return `00-${b.slice(0, 32)}-${b.slice(32)}-01`;
}
