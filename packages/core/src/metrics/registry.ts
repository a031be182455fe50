// One prom-client Registry per process (or per test), never prom-client's global default: two
// components in one test process, or two tests, must not see each other's series.

import { Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsRegistryOptions {
  /**
   * Also export Node's process metrics (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`,
   * heap sizes...). On in production binaries; tests usually leave it off.
   */
  processMetrics?: boolean;
}

export function createMetricsRegistry(opts: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

export type { Registry } from 'prom-client';
