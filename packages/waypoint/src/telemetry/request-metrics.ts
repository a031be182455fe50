// Istio's request metrics for the waypoint — istio_requests_total,
// istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes — kept per label
// set in plain arrays and handed to the prom-client Registry as metrics of its own shape (the
// registry only calls get()), so /metrics renders them like any prom-client metric.
// Why not prom-client's Counter and Histogram: each of their observations hashes and validates
// all 25 Istio labels, and the waypoint made four per request (~5 % of its CPU under load). Here
// the request layer finds its series once per label set (`series(key, labels)`, keyed by a short
// string the caller builds from identities) and each request costs a few array increments.

import { ISTIO_DURATION_BUCKETS_MS } from '@ambit/core/metrics/istio-metrics';
import type { RequestLabels } from '@ambit/core/metrics/istio-labels';
import type { Registry } from '@ambit/core/metrics/registry';

export const BYTE_BUCKETS: readonly number[] = [
  1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
];

/** Counts per bucket (not cumulative), sum and count of one label set. */
class Cells {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(buckets: number) {
    this.counts = new Float64Array(buckets);
  }
}

function observeInto(cells: Cells, bounds: readonly number[], v: number): void {
  let i = 0;
  while (i < bounds.length && v > (bounds[i] as number)) i++;
  if (i < bounds.length) cells.counts[i] = (cells.counts[i] ?? 0) + 1;
  cells.sum += v;
  cells.count += 1;
}

/** One label set's values: the request count and its three histograms. */
export class RequestSeries {
  readonly labels: RequestLabels;
  requests = 0;
  readonly duration = new Cells(ISTIO_DURATION_BUCKETS_MS.length);
  readonly requestBytes = new Cells(BYTE_BUCKETS.length);
  readonly responseBytes = new Cells(BYTE_BUCKETS.length);
  constructor(labels: RequestLabels) {
    this.labels = labels;
  }

  record(durationMs: number, requestBytes: number, responseBytes: number): void {
    this.requests += 1;
    observeInto(this.duration, ISTIO_DURATION_BUCKETS_MS, durationMs);
    observeInto(this.requestBytes, BYTE_BUCKETS, requestBytes);
    observeInto(this.responseBytes, BYTE_BUCKETS, responseBytes);
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's Registry needs of a metric (registerMetric, metrics(), getSingleMetric). */
interface RegistryMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: 'sum';
  }>;
  reset(): void;
}

function histogramValues(
  name: string,
  bounds: readonly number[],
  all: Iterable<RequestSeries>,
  cellsOf: (s: RequestSeries) => Cells,
): MetricValue[] {
  const out: MetricValue[] = [];
  for (const s of all) {
    const c = cellsOf(s);
    let acc = 0;
    for (let i = 0; i < bounds.length; i++) {
      acc += c.counts[i] ?? 0;
      out.push({
        labels: { ...s.labels, le: bounds[i] as number },
        value: acc,
        metricName: `${name}_bucket`,
      });
    }
    out.push({ labels: { ...s.labels, le: '+Inf' }, value: c.count, metricName: `${name}_bucket` });
    out.push({ labels: s.labels, value: c.sum, metricName: `${name}_sum` });
    out.push({ labels: s.labels, value: c.count, metricName: `${name}_count` });
  }
  return out;
}

export class RequestMetrics {
  /** Label set (values joined) → series. */
  readonly #byLabels = new Map<string, RequestSeries>();
  /** Caller's key → series: a cache in front of #byLabels, cleared when it grows large. */
  readonly #byKey = new Map<string, RequestSeries>();

  constructor(registry: Registry) {
    const all = (): Iterable<RequestSeries> => this.#byLabels.values();
    const metric = (
      name: string,
      help: string,
      type: RegistryMetric['type'],
      values: () => MetricValue[],
    ): void => {
      const m: RegistryMetric = {
        name,
        help,
        type,
        aggregator: 'sum',
        get: () => Promise.resolve({ name, help, type, values: values(), aggregator: 'sum' }),
        reset: () => {
          this.#byLabels.clear();
          this.#byKey.clear();
        },
      };
      registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
    };
    metric('istio_requests_total', 'The total number of requests', 'counter', () =>
      [...all()].map((s) => ({ labels: s.labels, value: s.requests })),
    );
    const hist = (
      name: string,
      help: string,
      bounds: readonly number[],
      cells: (s: RequestSeries) => Cells,
    ) => metric(name, help, 'histogram', () => histogramValues(name, bounds, all(), cells));
    hist(
      'istio_request_duration_milliseconds',
      'The duration of requests',
      ISTIO_DURATION_BUCKETS_MS,
      (s) => s.duration,
    );
    hist('istio_request_bytes', 'Request body sizes', BYTE_BUCKETS, (s) => s.requestBytes);
    hist('istio_response_bytes', 'Response body sizes', BYTE_BUCKETS, (s) => s.responseBytes);
  }

  /**
   * The series of a label set. `key` must determine the labels (the caller builds it from the
   * identities the labels are derived from); `labels` is called only on a cache miss.
   */
  series(key: string, labels: () => RequestLabels): RequestSeries {
    let s = this.#byKey.get(key);
    if (s !== undefined) return s;
    const l = labels();
    const content = Object.values(l).join('\u0000');
    s = this.#byLabels.get(content);
    if (s === undefined) {
      s = new RequestSeries(l);
      this.#byLabels.set(content, s);
    }
    if (this.#byKey.size >= 10_000) this.#byKey.clear();
    this.#byKey.set(key, s);
    return s;
  }
}
