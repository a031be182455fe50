import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '@ambit/core/mesh/route-types';
import type { ServiceKey } from '@ambit/core/mesh/types';
import { startHarness, type Harness, APP_NS } from './testing/harness.ts';

const svc = (name: string): ServiceKey => `${APP_NS}/${name}` as ServiceKey;

function route(name: string, parent: string, rules: Route['rules']): Route {
  return {
    name,
    namespace: APP_NS,
    createdAt: '2024-01-01T00:00:00Z',
    parents: [{ service: svc(parent) }],
    rules,
  };
}

/** Sum of a metric's series whose labels include `labels`. */
async function counted(h: Harness, name: string, labels: Record<string, string>): Promise<number> {
  const m = await h.waypoint.registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) =>
      Object.entries(labels).every(
        ([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val,
      ),
    )
    .reduce((n, v) => n + v.value, 0);
}

function backend(name: string, weight = 1) {
  return {
    kind: 'service' as const,
    service: svc(name),
    hostname: `${name}.${APP_NS}.svc.cluster.local`,
    port: 80,
    weight,
  };
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
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          filters: [],
          backends: [backend('reviews-v1', 80), backend('reviews-v2', 20)],
        },
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

describe('waypoint matches, retries, timeouts, policy', () => {
  let h: Harness;
  const hits = { flaky: 0, down: 0 };
  beforeAll(async () => {
    h = await startHarness({ retryBudget: { ratio: 0.2, minRetries: 20 } });
    for (const name of ['v1', 'v2'])
      await h.addPod({
        name,
        handler: (req, res) =>
          res.end(`${name} ${req.method} ${req.url} ${String(req.headers['x-added'] ?? '')}`),
      });
    await h.addPod({
      name: 'flaky',
      handler: (_req, res) => {
        hits.flaky += 1;
        res.statusCode = hits.flaky % 2 === 1 ? 503 : 200;
        res.end('flaky');
      },
    });
    await h.addPod({
      name: 'down',
      handler: (_req, res) => {
        hits.down += 1;
        res.statusCode = 503;
        res.end('down');
      },
    });
    await h.addPod({
      name: 'slow',
      handler: (_req, res) => setTimeout(() => res.end('late'), 1500).unref(),
    });
  });
  afterAll(async () => h.close());

  const mesh = (routes: Route[], policies: Parameters<Harness['setMesh']>[2] = []): void =>
    h.setMesh(
      {
        reviews: ['v1'],
        'reviews-v1': ['v1'],
        'reviews-v2': ['v2'],
        flaky: ['flaky'],
        down: ['down'],
        slow: ['slow'],
      },
      routes,
      policies,
    );

  it('header, path, query and method matches pick the right backend; filters apply', async () => {
    mesh([
      route('matches', 'reviews', [
        {
          matches: [
            {
              path: { type: 'PathPrefix', value: '/' },
              headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }],
            },
          ],
          filters: [],
          backends: [backend('reviews-v2')],
        },
        {
          matches: [{ path: { type: 'Exact', value: '/exact' } }],
          filters: [
            {
              type: 'RequestHeaderModifier',
              requestHeaderModifier: { set: [{ name: 'x-added', value: 'A' }] },
            },
            {
              type: 'ResponseHeaderModifier',
              responseHeaderModifier: { add: [{ name: 'x-resp', value: 'R' }] },
            },
          ],
          backends: [backend('reviews-v2')],
        },
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/re/[0-9]+' } },
            {
              path: { type: 'PathPrefix', value: '/q' },
              queryParams: [{ type: 'Exact', name: 'v', value: '2' }],
            },
            { path: { type: 'PathPrefix', value: '/m' }, method: 'POST' },
          ],
          filters: [],
          backends: [backend('reviews-v2')],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
          filters: [
            {
              type: 'URLRewrite',
              urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } },
            },
          ],
          backends: [backend('reviews-v1')],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/moved' } }],
          filters: [
            {
              type: 'RequestRedirect',
              requestRedirect: { hostname: 'example.com', statusCode: 301 },
            },
          ],
          backends: [],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          filters: [],
          backends: [backend('reviews-v1')],
        },
      ]),
    ]);
    const c = h.http1('reviews');
    const get = async (
      path: string,
      init: { method?: string; headers?: Record<string, string> } = {},
    ) => {
      const r = await c.request({
        path,
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
      });
      return { status: r.statusCode, text: await r.body.text(), headers: r.headers };
    };
    expect((await get('/a', { headers: { 'x-canary': 'yes' } })).text).toMatch(/^v2/);
    expect((await get('/a')).text).toMatch(/^v1/);
    const exact = await get('/exact');
    expect(exact.text).toBe('v2 GET /exact A');
    expect(exact.headers['x-resp']).toBe('R');
    expect((await get('/exact/more')).text).toMatch(/^v1/);
    expect((await get('/re/42')).text).toMatch(/^v2/);
    expect((await get('/re/x')).text).toMatch(/^v1/);
    expect((await get('/q?v=2')).text).toMatch(/^v2/);
    expect((await get('/q?v=3')).text).toMatch(/^v1/);
    expect((await get('/m', { method: 'POST' })).text).toMatch(/^v2/);
    expect((await get('/m')).text).toMatch(/^v1/);
    expect((await get('/old/x?y=1')).text).toBe('v1 GET /new/x?y=1 ');
    const moved = await get('/moved/x');
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe('http://example.com/moved/x');
  });

  it('a backend failing half its requests succeeds behind a retry policy; retries are counted', async () => {
    mesh([
      route('retry', 'reviews', [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          filters: [],
          backends: [backend('flaky')],
          retry: { attempts: 2, codes: [503], backoffMs: 1 },
        },
      ]),
    ]);
    const c = h.http1('reviews');
    for (let i = 0; i < 10; i++) {
      const r = await c.request({ path: '/', method: 'POST', body: `payload ${i}` });
      expect(r.statusCode).toBe(200);
      await r.body.text();
    }
    const metrics = await h.waypoint.registry.metrics();
    expect(metrics).toMatch(
      /ambit_waypoint_retries_total\{destination_service="flaky\.app\.svc\.cluster\.local",outcome="retried"\} 10/,
    );
    expect(
      await counted(h, 'istio_requests_total', {
        reporter: 'waypoint',
        destination_service: 'flaky.app.svc.cluster.local',
        response_code: '200',
      }),
    ).toBe(10);
  });

  it('the retry budget caps attempts while every endpoint fails', async () => {
    mesh([
      route('budget', 'reviews', [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          filters: [],
          backends: [backend('down')],
          retry: { attempts: 3, codes: [503], backoffMs: 0 },
        },
      ]),
    ]);
    const c = h.http1('reviews');
    hits.down = 0;
    const n = 100;
    for (let i = 0; i < n; i++) {
      const r = await c.request({ path: '/', method: 'GET' });
      expect(r.statusCode).toBe(503);
      await r.body.text();
    }
    // Without a budget: 4 × 100 hits. With 20 % + 20: at most 100 + 40.
    expect(hits.down).toBeGreaterThan(n);
    expect(hits.down).toBeLessThanOrEqual(n + 0.2 * n + 20);
  });

  it('a slow backend hits timeouts.request with 504', async () => {
    mesh([
      route('slow', 'reviews', [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          filters: [],
          backends: [backend('slow')],
          timeouts: { requestMs: 200 },
        },
      ]),
    ]);
    const c = h.http1('reviews');
    const r = await c.request({ path: '/', method: 'GET' });
    expect(r.statusCode).toBe(504);
    expect(await r.body.text()).toMatch(/AMBIT_WAYPOINT_TIMEOUT/);
    expect(
      await counted(h, 'istio_requests_total', { response_code: '504', response_flags: 'UT' }),
    ).toBe(1);
  });

  it('DENY and ALLOW policies give 403 or pass', async () => {
    const policy = (name: string, action: 'ALLOW' | 'DENY', rules: object[]) => ({
      name,
      namespace: APP_NS,
      action,
      scope: {
        kind: 'targetRefs' as const,
        targetRefs: [{ kind: 'Service' as const, name: 'reviews' }],
      },
      rules,
    });
    mesh(
      [],
      [
        policy('deny-admin', 'DENY', [{ to: [{ paths: ['/admin*'] }] }]),
        policy('allow-client', 'ALLOW', [
          {
            from: [{ principals: [`${h.pki.trustDomain}/ns/client/sa/client`] }],
            to: [{ methods: ['GET'] }],
          },
        ]),
      ],
    );
    const c = h.http1('reviews');
    const ok = await c.request({ path: '/ok', method: 'GET' });
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    const admin = await c.request({ path: '/admin/x', method: 'GET' });
    expect(admin.statusCode).toBe(403);
    expect(await admin.body.text()).toMatch(/RBAC: access denied.*deny-admin/);
    const post = await c.request({ path: '/ok', method: 'POST', body: 'x' });
    expect(post.statusCode).toBe(403); // an ALLOW applies and none matches
    await post.body.text();
    expect(
      await counted(h, 'istio_requests_total', { response_code: '403', response_flags: 'DENY' }),
    ).toBe(2);
  });
});
