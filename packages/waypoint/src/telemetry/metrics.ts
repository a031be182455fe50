// The waypoint's metrics (docs/waypoint.md lists them): Istio's request metrics with
// reporter="waypoint", request/response byte histograms, Istio's TCP metrics for opaque streams,
// and ambit_waypoint_* health counters. Label values come from mesh metadata only (bounded).

import {
  createIstioRequestMetrics,
  createIstioTcpMetrics,
  type IstioRequestMetrics,
  type IstioTcpMetrics,
} from '@ambit/core/metrics/istio-metrics';
import { REQUEST_LABEL_NAMES, type RequestLabelName } from '@ambit/core/metrics/istio-labels';
import { Counter, Histogram } from '@ambit/core/metrics/prom';
import type { Registry } from '@ambit/core/metrics/registry';

const BYTE_BUCKETS = [
  1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
];

export interface WaypointMetrics {
  istio: IstioRequestMetrics;
  tcp: IstioTcpMetrics;
  requestBytes: Histogram<RequestLabelName>;
  responseBytes: Histogram<RequestLabelName>;
  retries: Counter<'destination_service' | 'outcome'>;
  ejections: Counter<'destination_workload'>;
  mirrors: Counter<'outcome'>;
  protocols: Counter<'protocol'>;
}

export function createWaypointMetrics(registry: Registry): WaypointMetrics {
  const registers = [registry];
  const labelNames = REQUEST_LABEL_NAMES;
  return {
    istio: createIstioRequestMetrics(registry),
    tcp: createIstioTcpMetrics(registry),
    requestBytes: new Histogram({
      name: 'istio_request_bytes',
      help: 'Request body sizes',
      labelNames,
      buckets: BYTE_BUCKETS,
      registers,
    }),
    responseBytes: new Histogram({
      name: 'istio_response_bytes',
      help: 'Response body sizes',
      labelNames,
      buckets: BYTE_BUCKETS,
      registers,
    }),
    retries: new Counter({
      name: 'ambit_waypoint_retries_total',
      help: 'Retries made (outcome="retried") or refused by the retry budget (outcome="budget_exhausted")',
      labelNames: ['destination_service', 'outcome'],
      registers,
    }),
    ejections: new Counter({
      name: 'ambit_waypoint_outlier_ejections_total',
      help: 'Endpoints ejected by outlier detection',
      labelNames: ['destination_workload'],
      registers,
    }),
    mirrors: new Counter({
      name: 'ambit_waypoint_mirrored_requests_total',
      help: 'Requests mirrored (outcome="sent") or not mirrored because they had a body (outcome="skipped")',
      labelNames: ['outcome'],
      registers,
    }),
    protocols: new Counter({
      name: 'ambit_waypoint_connections_total',
      help: 'Tunneled connections by detected protocol (http1, h2, tcp)',
      labelNames: ['protocol'],
      registers,
    }),
  };
}
