// The waypoint's own request metrics (request-metrics.ts) as Prometheus sees them: real requests
// through the waypoint over HBONE, then the /metrics text of its prom-client Registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '@ambit/core/metrics/registry';
import { startHarness, type Harness } from '../testing/harness.ts';
import { RequestMetrics } from './request-metrics.ts';

/** The value of the one exposition line that starts with `name{` and contains every fragment. */
function sample(text: string, name: string, ...fragments: string[]): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && fragments.every((f) => l.includes(f)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('request metrics through the waypoint', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.addPod({
      name: 'echo',
      handler: (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          res.statusCode = req.url === '/missing' ? 404 : 200;
          res.end(Buffer.concat([body, body])); // twice what it got
        });
      },
    });
    h.setMesh({ echo: ['echo'] });
  });
  afterAll(async () => h.close());

  it('counts requests per label set and bytes each way, in Prometheus histogram form', async () => {
    const c = h.http1('echo');
    for (let i = 0; i < 3; i++) {
      const r = await c.request({ path: '/', method: 'POST', body: 'x'.repeat(500) });
      expect(await r.body.text()).toHaveLength(1000);
    }
    const missing = await c.request({ path: '/missing', method: 'GET' });
    await missing.body.text();

    const text = await h.waypoint.registry.metrics();
    const ok = [
      'reporter="waypoint"',
      'response_code="200"',
      'destination_service="echo.app.svc.cluster.local"',
    ];
    expect(sample(text, 'istio_requests_total', ...ok)).toBe(3);
    expect(sample(text, 'istio_requests_total', 'response_code="404"')).toBe(1);
    // Bytes: 500 in and 1,000 out per request; buckets are cumulative.
    expect(sample(text, 'istio_request_bytes_sum', ...ok)).toBe(1500);
    expect(sample(text, 'istio_response_bytes_sum', ...ok)).toBe(3000);
    expect(sample(text, 'istio_request_bytes_bucket', ...ok, 'le="100"')).toBe(0);
    expect(sample(text, 'istio_request_bytes_bucket', ...ok, 'le="1000"')).toBe(3);
    expect(sample(text, 'istio_response_bytes_bucket', ...ok, 'le="1000"')).toBe(3);
    expect(sample(text, 'istio_response_bytes_bucket', ...ok, 'le="+Inf"')).toBe(3);
    expect(sample(text, 'istio_request_duration_milliseconds_count', ...ok)).toBe(3);
    expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
    expect(text).toContain('# TYPE istio_requests_total counter');
  });
});

describe('RequestMetrics', () => {
  it('keeps one series per label set, whatever key found it', async () => {
    const registry = createMetricsRegistry();
    const m = new RequestMetrics(registry);
    const labels = { reporter: 'waypoint', response_code: '200' } as never;
    m.series('a', () => labels).record(3, 10, 20);
    // Another key (a new snapshot's objects) with the same labels adds to the same series.
    m.series('b', () => ({ ...(labels as object) }) as never).record(7, 10, 20);
    const text = await registry.metrics();
    expect(sample(text, 'istio_requests_total', 'response_code="200"')).toBe(2);
    expect(sample(text, 'istio_request_duration_milliseconds_sum')).toBe(10);
    expect(sample(text, 'istio_request_duration_milliseconds_bucket', 'le="5"')).toBe(1);
    expect(sample(text, 'istio_request_duration_milliseconds_bucket', 'le="10"')).toBe(2);
    expect(text.match(/^istio_requests_total\{/gm)).toHaveLength(1);
  });
});
