import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '@ambit/core/mesh/route-types';
import type { ServiceKey } from '@ambit/core/mesh/types';
import { startHarness, type Harness, APP_NS } from './testing/harness.ts';

const svc = (name: string): ServiceKey => `${APP_NS}/${name}` as ServiceKey;

function route(name: string, parent: string, rules: Route['rules']): Route {
  return { name, namespace: APP_NS, createdAt: '2024-01-01T00:00:00Z', parents: [{ service: svc(parent) }], rules };
}

function backend(name: string, weight = 1) {
  return { kind: 'service' as const, service: svc(name), hostname: `${name}.${APP_NS}.svc.cluster.local`, port: 80, weight };
}

describe('waypoint routing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    for (const name of ['v1', 'v2']) {
      await h.addPod({ name, handler: (req, res) => res.end(`${name} ${req.url}`) });
    }
  });
  afterAll(async () => h.close());

  it('routes to the original service when no route exists', async () => {
    h.setMesh({ reviews: ['v1'], 'reviews-v1': ['v1'], 'reviews-v2': ['v2'] });
    const c = h.http1('reviews');
    const r = await c.request({ path: '/hello', method: 'GET' });
    expect(r.statusCode).toBe(200);
    expect(await r.body.text()).toBe('v1 /hello');
  });

  it('splits 80/20 within ±3 points over 2,000 requests', async () => {
    h.setMesh({ reviews: ['v1'], 'reviews-v1': ['v1'], 'reviews-v2': ['v2'] }, [
      route('split', 'reviews', [
        { matches: [{ path: { type: 'PathPrefix', value: '/' } }], filters: [], backends: [backend('reviews-v1', 80), backend('reviews-v2', 20)] },
      ]),
    ]);
    const c = h.http1('reviews', { connections: 8 });
    const counts = { v1: 0, v2: 0 };
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const r = await c.request({ path: '/', method: 'GET' });
          const text = await r.body.text();
          counts[text.startsWith('v1') ? 'v1' : 'v2'] += 1;
        }),
      );
    }
    expect(counts.v1 + counts.v2).toBe(2000);
    expect(Math.abs(counts.v1 / 2000 - 0.8)).toBeLessThanOrEqual(0.03);
  });
});
