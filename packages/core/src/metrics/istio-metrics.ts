// Istio's standard metrics, registered on a given Registry. ztunnel uses the TCP family; the
// waypoint uses both (TCP for opaque streams, requests for HTTP/gRPC).

import { Counter, Histogram, type Registry } from 'prom-client';
import {
  REQUEST_LABEL_NAMES,
  TCP_LABEL_NAMES,
  type RequestLabelName,
  type TcpLabelName,
} from './istio-labels.ts';

export interface IstioTcpMetrics {
  opened: Counter<TcpLabelName>;
  closed: Counter<TcpLabelName>;
  /** Bytes the server sent in response (destination → source). */
  sentBytes: Counter<TcpLabelName>;
  /** Bytes the server received in the request (source → destination). */
  receivedBytes: Counter<TcpLabelName>;
}

export interface IstioTcpMetricsOptions {
  /**
   * Called before the byte counters are read at each scrape: a proxy that accumulates bytes per
   * connection (cheap on the data path) adds them to the counters here, so long-lived connections
   * show up in every scrape, not only when they close.
   */
  beforeBytesScrape?: () => void;
}

export function createIstioTcpMetrics(
  registry: Registry,
  opts: IstioTcpMetricsOptions = {},
): IstioTcpMetrics {
  const labelNames = TCP_LABEL_NAMES;
  const registers = [registry];
  const hook = opts.beforeBytesScrape;
  const collect = hook ? () => hook() : undefined;
  return {
    opened: new Counter({
      name: 'istio_tcp_connections_opened_total',
      help: 'The total number of TCP connections opened',
      labelNames,
      registers,
    }),
    closed: new Counter({
      name: 'istio_tcp_connections_closed_total',
      help: 'The total number of TCP connections closed',
      labelNames,
      registers,
    }),
    sentBytes: new Counter({
      name: 'istio_tcp_sent_bytes_total',
      help: 'The size of total bytes sent during response in case of a TCP connection',
      labelNames,
      registers,
      collect,
    }),
    receivedBytes: new Counter({
      name: 'istio_tcp_received_bytes_total',
      help: 'The size of total bytes received during request in case of a TCP connection',
      labelNames,
      registers,
      collect,
    }),
  };
}

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
]);

export interface IstioRequestMetrics {
  requests: Counter<RequestLabelName>;
  durationMs: Histogram<RequestLabelName>;
}

export function createIstioRequestMetrics(registry: Registry): IstioRequestMetrics {
  const labelNames = REQUEST_LABEL_NAMES;
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'istio_requests_total',
      help: 'The total number of requests',
      labelNames,
      registers,
    }),
    durationMs: new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'The duration of requests',
      labelNames,
      buckets: [...ISTIO_DURATION_BUCKETS_MS],
      registers,
    }),
  };
}
