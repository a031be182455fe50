// The waypoint's metrics (docs/waypoint.md lists them): Istio's request metrics with
// reporter="waypoint", request/response byte histograms, Istio's TCP metrics for opaque streams,
// and ambit_waypoint_* health counters. Label values come from mesh metadata only (bounded).

import { createIstioTcpMetrics, type IstioTcpMetrics } from '@ambit/core/metrics/istio-metrics';
import { Counter } from '@ambit/core/metrics/prom';
import type { Registry } from '@ambit/core/metrics/registry';
import { RequestMetrics } from './request-metrics.ts';

export interface WaypointMetrics {
  /** istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes. */
  requests: RequestMetrics;
  tcp: IstioTcpMetrics;
  retries: Counter<'destination_service' | 'outcome'>;
  ejections: Counter<'destination_workload'>;
  mirrors: Counter<'outcome'>;
  protocols: Counter<'protocol'>;
}

export function createWaypointMetrics(registry: Registry): WaypointMetrics {
  const registers = [registry];
  return {
    requests: new RequestMetrics(registry),
    tcp: createIstioTcpMetrics(registry),
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
