// The config stream server's metrics (docs/controller.md lists them). Bounded labels only: type is
// one of five, kind one of two, mode/reason/status a handful each; never a node or pod name.

import { Counter, Gauge, Histogram } from '@ambit/core/metrics/prom';
import type { Registry } from '@ambit/core/metrics/registry';

export type DisconnectReason = 'closed' | 'stuck' | 'protocol' | 'shutdown';

export interface StreamMetrics {
  connected: Gauge<'kind'>;
  pushes: Counter<'type' | 'mode'>;
  pushLatency: Histogram<'type'>;
  configBytes: Counter<'type' | 'mode'>;
  nacks: Counter<'type'>;
  refused: Counter<'status'>;
  disconnects: Counter<'reason'>;
}

export function createStreamMetrics(registry: Registry): StreamMetrics {
  const registers = [registry];
  return {
    connected: new Gauge({
      name: 'ambit_controller_connected_proxies',
      help: 'Config-stream subscribers connected now, by kind (ztunnel, waypoint)',
      labelNames: ['kind'],
      registers,
    }),
    pushes: new Counter({
      name: 'ambit_controller_config_pushes_total',
      help: 'Config-stream messages sent, by resource type and mode (snapshot, delta)',
      labelNames: ['type', 'mode'],
      registers,
    }),
    pushLatency: new Histogram({
      name: 'ambit_controller_config_push_latency_seconds',
      help: 'Time from the publish of a change to the ACK of the delta carrying it, per subscriber',
      labelNames: ['type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    configBytes: new Counter({
      name: 'ambit_controller_config_bytes_total',
      help: 'Bytes of config-stream messages sent, by resource type and mode',
      labelNames: ['type', 'mode'],
      registers,
    }),
    nacks: new Counter({
      name: 'ambit_controller_config_nacks_total',
      help: 'Config-stream messages refused (NACKed) by a data plane, by resource type',
      labelNames: ['type'],
      registers,
    }),
    refused: new Counter({
      name: 'ambit_controller_config_stream_refused_total',
      help: 'Config-stream requests answered with an error status before streaming',
      labelNames: ['status'],
      registers,
    }),
    disconnects: new Counter({
      name: 'ambit_controller_config_stream_disconnects_total',
      help: 'Config streams ended: closed (by the peer), stuck (no ACK in time), protocol (garbage), shutdown',
      labelNames: ['reason'],
      registers,
    }),
  };
}
