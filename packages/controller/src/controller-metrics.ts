// The controller's own metrics besides the config stream's (stream/stream-metrics.ts): CSRs
// signed and refused, leadership, informer sync, translations and writes. docs/controller.md
// lists them. Bounded labels only.

import { Counter, Gauge } from '@ambit/core/metrics/prom';
import type { Registry } from '@ambit/core/metrics/registry';

export interface ControllerMetrics {
  csrs: Counter<'result' | 'code'>;
  leader: Gauge;
  synced: Gauge;
  translations: Counter;
  writes: Counter<'kind'>;
}

export function createControllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  return {
    csrs: new Counter({
      name: 'ambit_controller_csr_total',
      help: 'Certificate requests answered, by result (signed, refused) and error code (OK when signed)',
      labelNames: ['result', 'code'],
      registers,
    }),
    leader: new Gauge({
      name: 'ambit_controller_leader',
      help: '1 while this replica holds the leader Lease (and may write), else 0',
      registers,
    }),
    synced: new Gauge({
      name: 'ambit_controller_informers_synced',
      help: '1 once every watched kind has been listed, else 0',
      registers,
    }),
    translations: new Counter({
      name: 'ambit_controller_translations_total',
      help: 'Translations of cluster state published to the config store',
      registers,
    }),
    writes: new Counter({
      name: 'ambit_controller_writes_total',
      help: 'Writes to the API server made as leader, by kind of object',
      labelNames: ['kind'],
      registers,
    }),
  };
}
