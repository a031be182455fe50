// Passive health over real sockets: one of two endpoints refuses its HBONE connections; after the
// fifth consecutive failure it is ejected and every later request goes to the healthy endpoint.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.ts';

describe('outlier ejection', () => {
  let h: Harness;
  const hits = { good: 0, bad: 0 };
  beforeAll(async () => {
    h = await startHarness();
    for (const name of ['good', 'bad'] as const)
      await h.addPod({
        name,
        handler: (_req, res) => {
          hits[name] += 1;
          res.end(name);
        },
      });
    // The bad pod's HBONE port stops listening: every connection to it is refused.
    await h.pods.get('bad')?.hbone.close({ graceMs: 0 });
    h.setMesh({ svc: ['good', 'bad'] });
  });
  afterAll(async () => h.close());

  it('ejects the endpoint that fails its connections and sends the traffic to the healthy one', async () => {
    const c = h.http1('svc');
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await c.request({ path: '/', method: 'GET' });
      await r.body.text();
      statuses.push(r.statusCode);
    }
    const failed = statuses.filter((s) => s === 503).length;
    // No retry policy: each failure reaches the client until the fifth ejects the endpoint.
    expect(failed).toBe(5);
    expect(statuses.filter((s) => s === 200).length).toBe(55);
    expect(hits).toEqual({ good: 55, bad: 0 });
    const lastFailure = statuses.lastIndexOf(503);
    expect(statuses.slice(lastFailure + 1).every((s) => s === 200)).toBe(true);
    const bad = h.pods.get('bad');
    expect(h.waypoint.stats().ejected).toEqual([`${bad?.ip}:${bad?.port}`]);
    const ejections = await h.waypoint.registry
      .getSingleMetric('ambit_waypoint_outlier_ejections_total')
      ?.get();
    expect(ejections?.values.reduce((n, v) => n + v.value, 0)).toBe(1);
  });
});
