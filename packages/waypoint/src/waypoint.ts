// The waypoint process's data plane: an HBONE server with the waypoint's own identity; each
// tunneled connection's :authority names the original destination (service VIP:port or workload
// IP:port); its bytes are sniffed (HTTP/2 prior knowledge, HTTP/1.1, else TCP) and served by the
// request stack (stack.ts) or the TCP proxy. Upstream connections are HBONE to the endpoints'
// pods, again with the waypoint's identity.

import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { HboneUpstreamError, WaypointConnectError } from '@ambit/core/errors';
import { HbonePool } from '@ambit/core/hbone/pool';
import {
  HboneServer,
  type HboneRequestContext,
  type HboneStreamTaker,
} from '@ambit/core/hbone/server';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { createLogger, type Logger } from '@ambit/core/log';
import { parseIpAddr } from '@ambit/core/mesh/ip';
import { createMetricsRegistry, type Registry } from '@ambit/core/metrics/registry';
import { asSocket } from './http/as-socket.ts';
import { H2Downstream } from './http/downstream-h2.ts';
import { Http1Downstream } from './http/downstream-http1.ts';
import { sniffProtocol } from './http/sniff-protocol.ts';
import type { ConnectionInfo, Handler, RequestTarget } from './http/types.ts';
import type { WaypointName } from './layers/authorize.ts';
import type { Clock } from './layers/clock.ts';
import { RetryBudget, type RetryBudgetOptions } from './layers/retry-budget.ts';
import { buildStack } from './stack.ts';
import type { WaypointState } from './state/waypoint-state.ts';
import type { WaypointSnapshot } from './state/waypoint-snapshot.ts';
import { proxyTcp } from './tcp/tcp-proxy.ts';
import { createWaypointMetrics, type WaypointMetrics } from './telemetry/metrics.ts';
import { Balancer } from './upstream/balancer.ts';
import type { Endpoint } from './upstream/endpoint.ts';
import { OutlierDetector, type OutlierOptions } from './upstream/outlier-detector.ts';
import { sendRequest } from './upstream/send-request.ts';
import { UpstreamPools } from './upstream/upstream-pools.ts';

export interface WaypointOptions {
  /** The waypoint's own identity: presented to clients and to endpoints. */
  identity: TlsIdentity;
  /** This Waypoint resource (policies with targetRefs to it apply). */
  self: WaypointName;
  state: WaypointState;
  /** HBONE clients must be in this trust domain (default: the mesh config's at construction). */
  trustDomain?: string;
  /** HBONE listen address (default 127.0.0.1:0; in a pod 0.0.0.0:15008). */
  host?: string;
  port?: number;
  registry?: Registry;
  logger?: Logger;
  /** Where access-log lines go (default: `logger`). */
  accessLog?: Logger;
  /** The HBONE client pool toward endpoints (default: a new one). */
  hbonePool?: HbonePool;
  /** The HBONE port of endpoint pods (default 15008). */
  endpointHbonePort?: number;
  retryBudget?: RetryBudgetOptions;
  outlier?: OutlierOptions;
  /** Largest request body kept for retries (default 1 MiB). */
  maxReplayBytes?: number;
  /** How long to wait for a client's first bytes before treating the connection as TCP (default 1 s). */
  sniffTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
}

export class Waypoint {
  readonly metrics: WaypointMetrics;
  readonly registry: Registry;
  readonly #opts: WaypointOptions;
  #identity: TlsIdentity;
  readonly #server: HboneServer;
  readonly #hbone: HbonePool;
  readonly #ownsPool: boolean;
  readonly #pools: UpstreamPools;
  readonly #balancer: Balancer;
  readonly #outliers: OutlierDetector;
  readonly #handler: Handler;
  readonly #http1: Http1Downstream;
  readonly #h2: H2Downstream;
  readonly #log: Logger;
  readonly #accessLog: Logger;

  constructor(opts: WaypointOptions) {
    this.#opts = opts;
    this.#identity = opts.identity;
    this.registry = opts.registry ?? createMetricsRegistry();
    this.metrics = createWaypointMetrics(this.registry);
    this.#log = opts.logger ?? createLogger({ fields: { component: 'waypoint' } });
    this.#accessLog = opts.accessLog ?? this.#log;
    this.#ownsPool = opts.hbonePool === undefined;
    this.#hbone = opts.hbonePool ?? new HbonePool();
    this.#pools = new UpstreamPools((e, signal) => this.#dial(e, signal));
    this.#outliers = new OutlierDetector(opts.outlier);
    this.#balancer = new Balancer(this.#outliers, {
      ...(opts.random && { random: opts.random }),
      ...(opts.endpointHbonePort !== undefined && { hbonePort: opts.endpointHbonePort }),
    });
    this.#handler = buildStack({
      self: opts.self,
      metrics: this.metrics,
      accessLog: this.#accessLog,
      budget: new RetryBudget(opts.retryBudget),
      balancer: this.#balancer,
      outliers: this.#outliers,
      send: (req, endpoint) => sendRequest(this.#pools, req, endpoint),
      onEject: (e) => {
        this.metrics.ejections.inc({ destination_workload: e.workload.workloadName });
        this.#log.warn('endpoint ejected', {
          endpoint: e.key,
          workload: `${e.workload.namespace}/${e.workload.name}`,
        });
      },
      ...(opts.maxReplayBytes !== undefined && { maxReplayBytes: opts.maxReplayBytes }),
      ...(opts.clock && { clock: opts.clock }),
      ...(opts.random && { random: opts.random }),
    });
    const downstream = {
      handler: this.#handler,
      snapshot: () => opts.state.current(),
      onBadRequest: (err: Error) => this.#log.debug('malformed HTTP/1.1 request', { error: err }),
    };
    this.#http1 = new Http1Downstream(downstream);
    this.#h2 = new H2Downstream(downstream);
    this.#server = new HboneServer({
      identity: opts.identity,
      trustDomain: opts.trustDomain ?? opts.state.current().mesh.mesh.trustDomain,
      ...(opts.host !== undefined && { host: opts.host }),
      ...(opts.port !== undefined && { port: opts.port }),
      // L4 admission happens per connection once the protocol is known; L7 per request.
      authorize: () => Promise.resolve(true),
      dial: (ctx) => this.#accept(ctx),
    });
  }

  listen(): Promise<{ address: string; port: number }> {
    return this.#server.listen();
  }

  /** Certificate rotation: new HBONE handshakes (in and out) use `identity`. */
  updateIdentity(identity: TlsIdentity): void {
    this.#identity = identity;
    this.#server.updateIdentity(identity);
  }

  /** The request stack (for tests and benchmarks that drive it without a tunnel). */
  get handler(): Handler {
    return this.#handler;
  }

  stats(): {
    hbone: { sessions: number; streams: number };
    upstream: ReturnType<UpstreamPools['stats']>;
    ejected: string[];
  } {
    return {
      hbone: this.#server.stats(),
      upstream: this.#pools.stats(),
      ejected: this.#outliers.ejected(),
    };
  }

  async close(opts: { graceMs?: number } = {}): Promise<void> {
    // Stop accepting (GOAWAY to HBONE clients); HTTP/1.1 keep-alive connections end after their
    // response and HTTP/2 clients get a GOAWAY, so the tunnels finish before the grace period.
    const closed = this.#server.close(opts);
    this.#http1.drain();
    this.#h2.close();
    await closed;
    this.#http1.close();
    await this.#pools.close();
    if (this.#ownsPool) await this.#hbone.close();
  }

  /** Resolves :authority to the original destination; unknown → 503 on the CONNECT. */
  #target(snapshot: WaypointSnapshot, ctx: HboneRequestContext): RequestTarget {
    const ip = parseIpAddr(ctx.target.host);
    const found = ip === undefined ? undefined : snapshot.mesh.lookup(ip);
    const port = ctx.target.port;
    if (found?.kind === 'service') {
      if (!found.service.ports.some((p) => p.port === port))
        throw new HboneUpstreamError(
          `service ${found.service.namespace}/${found.service.name} has no port ${port}`,
        );
      return { kind: 'service', service: found.service, ip: found.vip, port };
    }
    if (found?.kind === 'workload')
      return { kind: 'workload', workload: found.workload, ip: found.ip, port };
    throw new HboneUpstreamError(
      `${ctx.authority} is neither a service VIP nor a workload this waypoint knows`,
    );
  }

  async #accept(ctx: HboneRequestContext): Promise<HboneStreamTaker> {
    const snapshot = this.#opts.state.current();
    const target = this.#target(snapshot, ctx);
    const conn: ConnectionInfo = {
      peerId: ctx.peerId,
      source:
        snapshot.mesh.lookup(ctx.remote.address)?.kind === 'workload'
          ? snapshot.mesh.workloadsByIp.get(ctx.remote.address as never)
          : undefined,
      sourceIp: ctx.remote.address,
      target,
      ...(ctx.forwarded !== undefined && { forwarded: ctx.forwarded }),
      ...(ctx.baggage !== undefined && { baggage: ctx.baggage }),
    };
    // The CONNECT stream itself is served (no socket pair in between); node:http needs a few
    // socket methods on it (asSocket).
    return Promise.resolve({
      takeStream: (stream: Duplex) =>
        void this.#serve(asSocket(stream, { timeouts: false }), conn, snapshot),
    });
  }

  async #serve(socket: Duplex, conn: ConnectionInfo, snapshot: WaypointSnapshot): Promise<void> {
    socket.on('error', () => {});
    const appProtocol =
      conn.target.kind === 'service'
        ? conn.target.service.ports.find((p) => p.port === conn.target.port)?.appProtocol
        : undefined;
    const protocol =
      appProtocol === 'tcp'
        ? 'tcp'
        : await sniffProtocol(socket, this.#opts.sniffTimeoutMs ?? 1000);
    this.metrics.protocols.inc({ protocol });
    if (protocol === 'http1') this.#http1.serve(socket, conn);
    else if (protocol === 'h2') this.#h2.serve(socket, conn);
    else
      await proxyTcp(socket, conn, snapshot, {
        self: this.#opts.self,
        balancer: this.#balancer,
        pools: this.#pools,
        metrics: this.metrics,
        accessLog: this.#accessLog,
      });
  }

  /** A tunnel to an endpoint: HBONE with our identity, or plain TCP to a workload outside the mesh. */
  async #dial(e: Endpoint, signal?: AbortSignal): Promise<Duplex> {
    try {
      if (e.hbone === undefined) return await tcpConnect(e.ip, e.port, signal);
      return await this.#hbone.connect({
        address: e.hbone.address,
        authority: e.key,
        source: this.#identity,
        expectedPeers: [e.hbone.expectedPeer],
        ...(signal && { signal }),
      });
    } catch (err) {
      throw new WaypointConnectError(
        `cannot reach ${e.workload.namespace}/${e.workload.name} at ${e.key}${e.hbone ? ` over HBONE ${e.hbone.address.host}:${e.hbone.address.port}` : ''}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

function tcpConnect(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port, ...(signal && { signal }) });
    s.once('connect', () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}
