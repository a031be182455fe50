// Every metric ztunnel exports, in one place (docs/observability.md lists them): Istio's standard
// TCP metrics, and ztunnel's own `ambit_ztunnel_*` health metrics. Labels are bounded: they come
// from workload/service metadata, directions and response flags, never from IPs or ports.

import { Counter, Gauge } from '@ambit/core/metrics/prom';
import { createIstioTcpMetrics, type IstioTcpMetrics } from '@ambit/core/metrics/istio-metrics';
import { createMetricsRegistry, type Registry } from '@ambit/core/metrics/registry';
import type { TcpLabels } from '@ambit/core/metrics/istio-labels';

/** Where the health gauges read their values at scrape time; main.ts wires them. */
export interface ZtunnelMetricsProviders {
  /** The HBONE client pool (HbonePool.stats()). */
  hbonePool?: () => { sessions: number; streams: number };
  /** The workload certificates ztunnel holds now. */
  certificates?: () => readonly { id: string; notAfter: Date }[];
  /** The config source: connected or not, when the last update was applied, resource counts by type. */
  config?: () => {
    connected: boolean;
    lastUpdateMs?: number;
    resources: Readonly<Record<string, number>>;
  };
}

export interface ZtunnelMetricsOptions {
  /** Defaults to a fresh registry (never prom-client's global one). */
  registry?: Registry;
  providers?: ZtunnelMetricsProviders;
  now?: () => number;
}

type Direction = 'inbound' | 'outbound';

function directionOf(labels: TcpLabels): Direction {
  return labels.reporter === 'destination' ? 'inbound' : 'outbound';
}

export class ZtunnelMetrics {
  readonly registry: Registry;
  readonly tcp: IstioTcpMetrics;
  #providers: ZtunnelMetricsProviders;
  readonly #now: () => number;
  /** Per live connection: adds its not-yet-counted bytes to the byte counters. */
  readonly #flushers = new Set<() => void>();
  readonly #active: Record<Direction, number> = { inbound: 0, outbound: 0 };
  readonly #denied: Counter<'direction' | 'response_flags'>;

  constructor(opts: ZtunnelMetricsOptions = {}) {
    this.registry = opts.registry ?? createMetricsRegistry();
    this.#providers = { ...opts.providers };
    this.#now = opts.now ?? Date.now;
    const registers = [this.registry];
    this.tcp = createIstioTcpMetrics(this.registry, { beforeBytesScrape: () => this.flushBytes() });

    const active = this.#active;
    new Gauge({
      name: 'ambit_ztunnel_connections_active',
      help: 'Connections being proxied now, by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        this.set({ direction: 'inbound' }, active.inbound);
        this.set({ direction: 'outbound' }, active.outbound);
      },
    });
    this.#denied = new Counter({
      name: 'ambit_ztunnel_connections_denied_total',
      help: 'Connections refused before they were opened (policy, no route, no identity), by direction and response flags',
      labelNames: ['direction', 'response_flags'],
      registers,
    });

    const providers = (): ZtunnelMetricsProviders => this.#providers;
    new Gauge({
      name: 'ambit_ztunnel_hbone_pool_sessions',
      help: 'HTTP/2 sessions open in the HBONE client pool',
      registers,
      collect() {
        const s = providers().hbonePool?.();
        if (s) this.set(s.sessions);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_hbone_pool_streams',
      help: 'CONNECT streams open in the HBONE client pool',
      registers,
      collect() {
        const s = providers().hbonePool?.();
        if (s) this.set(s.streams);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_certificates',
      help: 'Workload certificates ztunnel holds',
      registers,
      collect() {
        const certs = providers().certificates?.();
        if (certs) this.set(certs.length);
      },
    });
    const now = this.#now;
    new Gauge({
      name: 'ambit_ztunnel_certificate_expiry_seconds',
      help: 'Seconds until each workload certificate expires (negative: expired)',
      labelNames: ['identity'],
      registers,
      collect() {
        const certs = providers().certificates?.();
        this.reset(); // identities that left the node disappear
        for (const c of certs ?? []) {
          this.set({ identity: c.id }, (c.notAfter.getTime() - now()) / 1000);
        }
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_config_source_connected',
      help: '1 when the config source (controller stream or local file) is connected, else 0',
      registers,
      collect() {
        this.set(providers().config?.().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_config_last_update_timestamp_seconds',
      help: 'Unix time of the last config update applied',
      registers,
      collect() {
        const at = providers().config?.().lastUpdateMs;
        if (at !== undefined) this.set(at / 1000);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_config_resources',
      help: 'Resources in the current config, by type',
      labelNames: ['type'],
      registers,
      collect() {
        const c = providers().config?.();
        this.reset();
        for (const [type, n] of Object.entries(c?.resources ?? {})) this.set({ type }, n);
      },
    });
  }

  /** Replaces some providers (main.ts wires them once the pool, certificates and config exist). */
  setProviders(p: ZtunnelMetricsProviders): void {
    this.#providers = { ...this.#providers, ...p };
  }

  /** Connections being proxied now (both directions). */
  get activeConnections(): number {
    return this.#active.inbound + this.#active.outbound;
  }

  /**
   * A connection opened: counts it, and keeps `flush` (which adds the connection's pending bytes
   * to the byte counters) until the returned function is called at close.
   */
  connectionOpened(labels: TcpLabels, flush: () => void): () => void {
    this.tcp.opened.inc(labels);
    const dir = directionOf(labels);
    this.#active[dir]++;
    this.#flushers.add(flush);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#flushers.delete(flush);
      this.#active[dir]--;
    };
  }

  /** Bytes from the source towards the destination: Istio's "received during request". */
  addBytesToDestination(labels: TcpLabels, n: number): void {
    this.tcp.receivedBytes.inc(labels, n);
  }

  /** Bytes from the destination back to the source: Istio's "sent during response". */
  addBytesFromDestination(labels: TcpLabels, n: number): void {
    this.tcp.sentBytes.inc(labels, n);
  }

  connectionClosed(labels: TcpLabels): void {
    this.tcp.closed.inc(labels);
  }

  /** A connection refused before it opened: counted as opened and closed with its flags, and as a denial. */
  connectionDenied(labels: TcpLabels): void {
    this.tcp.opened.inc(labels);
    this.tcp.closed.inc(labels);
    this.#denied.inc({ direction: directionOf(labels), response_flags: labels.response_flags });
  }

  /** Adds every live connection's pending bytes to the counters (runs before each scrape). */
  flushBytes(): void {
    for (const f of this.#flushers) f();
  }
}
