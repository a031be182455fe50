// planRequest table tests: pure, no sockets. Matching precedence per Gateway API (exact path >
// longest prefix > method > more header matches > more query matches > older route), weighted
// backends, the default route, no match (404) and invalid backends (500).

import { describe, expect, it } from 'vitest';
import type { RouteBackend, RouteMatch, Route, RouteRule } from '@ambit/core/mesh/route-types';
import {
  DEFAULT_MESH_CONFIG,
  type Service,
  type ServiceKey,
  type WorkloadUid,
} from '@ambit/core/mesh/types';
import type { ServiceVip } from '@ambit/core/mesh/ip';
import { errorResponse } from '../layers/rescue.ts';
import { buildWaypointSnapshot } from '../state/waypoint-snapshot.ts';
import { planRequest, type RoutePlan } from './plan-request.ts';

const NS = 'app';
const NAMES = ['front', 'a', 'b', 'c'];

const service = (name: string, i: number): Service => ({
  name,
  namespace: NS,
  hostname: `${name}.${NS}.svc.cluster.local`,
  vips: [`10.96.0.${i + 10}` as ServiceVip],
  ports: [{ port: 80, targetPort: 8080 }],
  endpoints: [{ workloadUid: `uid-${name}` as WorkloadUid }],
});

const to = (name: string, weight = 1): RouteBackend => ({
  kind: 'service',
  service: `${NS}/${name}` as ServiceKey,
  hostname: `${name}.${NS}.svc.cluster.local`,
  port: 80,
  weight,
});

const rule = (matches: RouteMatch[], backends: RouteBackend[]): RouteRule => ({
  matches,
  filters: [],
  backends,
});

const prefix = (value: string, extra: Partial<RouteMatch> = {}): RouteMatch => ({
  path: { type: 'PathPrefix', value },
  ...extra,
});
const exact = (value: string): RouteMatch => ({ path: { type: 'Exact', value } });
const header = (name: string, value: string) => ({ type: 'Exact' as const, name, value });

function route(name: string, rules: RouteRule[], createdAt = '2024-01-01T00:00:00Z'): Route {
  return {
    name,
    namespace: NS,
    createdAt,
    parents: [{ service: `${NS}/front` as ServiceKey }],
    rules,
  };
}

function plan(
  routes: Route[],
  req: { method?: string; path: string; query?: string; headers?: Record<string, string> },
  random = 0,
): RoutePlan {
  const services = NAMES.map(service);
  const snapshot = buildWaypointSnapshot(
    { mesh: DEFAULT_MESH_CONFIG, workloads: [], services, policies: [] },
    routes,
    1,
  );
  const front = services[0]!;
  return planRequest(
    snapshot,
    {
      method: req.method ?? 'GET',
      path: req.path,
      query: req.query ?? '',
      headers: req.headers ?? {},
      authority: 'front',
      target: { kind: 'service', service: front, ip: '10.96.0.10', port: 80 },
    },
    () => random,
  );
}

/** Where a plan sends the request: the upstream service's name. */
function dest(p: RoutePlan): string {
  if (p.kind !== 'forward') return `redirect ${p.location}`;
  return p.upstream.kind === 'service' ? p.upstream.service.name : p.upstream.workload.name;
}

describe('planRequest: matching precedence', () => {
  const cases: [string, Route[], Parameters<typeof plan>[1], string][] = [
    ['no route bound: the original service', [], { path: '/x' }, 'front'],
    [
      'exact beats a prefix of the same path',
      [route('r', [rule([prefix('/foo')], [to('a')]), rule([exact('/foo')], [to('b')])])],
      { path: '/foo' },
      'b',
    ],
    [
      'a prefix still takes what the exact path does not match',
      [route('r', [rule([prefix('/foo')], [to('a')]), rule([exact('/foo')], [to('b')])])],
      { path: '/foo/bar' },
      'a',
    ],
    [
      'longest prefix wins, whatever the rule order',
      [
        route('r', [
          rule([prefix('/')], [to('a')]),
          rule([prefix('/api/v2')], [to('c')]),
          rule([prefix('/api')], [to('b')]),
        ]),
      ],
      { path: '/api/v2/items' },
      'c',
    ],
    [
      'a prefix matches whole path elements only',
      [route('r', [rule([prefix('/')], [to('a')]), rule([prefix('/api')], [to('b')])])],
      { path: '/apix' },
      'a',
    ],
    [
      'with equal paths, a method match beats header matches',
      [
        route('r', [
          rule([prefix('/', { headers: [header('x-a', '1'), header('x-b', '1')] })], [to('a')]),
          rule([prefix('/', { method: 'POST' })], [to('b')]),
        ]),
      ],
      { method: 'POST', path: '/', headers: { 'x-a': '1', 'x-b': '1' } },
      'b',
    ],
    [
      'more header matches win',
      [
        route('r', [
          rule([prefix('/', { headers: [header('x-a', '1')] })], [to('a')]),
          rule([prefix('/', { headers: [header('x-a', '1'), header('x-b', '1')] })], [to('b')]),
        ]),
      ],
      { path: '/', headers: { 'x-a': '1', 'x-b': '1' } },
      'b',
    ],
    [
      'a match whose headers do not all hold is skipped',
      [
        route('r', [
          rule([prefix('/', { headers: [header('x-a', '1')] })], [to('a')]),
          rule([prefix('/', { headers: [header('x-a', '1'), header('x-b', '1')] })], [to('b')]),
        ]),
      ],
      { path: '/', headers: { 'x-a': '1' } },
      'a',
    ],
    [
      'with equal headers, more query matches win',
      [
        route('r', [
          rule([prefix('/', { queryParams: [header('q', '1')] })], [to('a')]),
          rule([prefix('/', { queryParams: [header('q', '1'), header('r', '2')] })], [to('b')]),
        ]),
      ],
      { path: '/', query: 'q=1&r=2' },
      'b',
    ],
    [
      'a longer prefix beats a method and headers',
      [
        route('r', [
          rule([prefix('/', { method: 'GET', headers: [header('x-a', '1')] })], [to('a')]),
          rule([prefix('/api')], [to('b')]),
        ]),
      ],
      { path: '/api', headers: { 'x-a': '1' } },
      'b',
    ],
    [
      'identical matches in two routes: the older route wins',
      [
        route('newer', [rule([prefix('/')], [to('a')])], '2024-06-01T00:00:00Z'),
        route('older', [rule([prefix('/')], [to('b')])], '2023-01-01T00:00:00Z'),
      ],
      { path: '/' },
      'b',
    ],
  ];
  it.each(cases)('%s', (_name, routes, req, want) => {
    expect(dest(plan(routes, req))).toBe(want);
  });
});

describe('planRequest: backends', () => {
  const split = [route('r', [rule([prefix('/')], [to('a', 80), to('b', 20), to('c', 0)])])];
  it.each([
    [0, 'a'],
    [0.79, 'a'],
    [0.8, 'b'],
    [0.999, 'b'],
  ])('weights 80/20/0 with random %f → %s', (random, want) => {
    expect(dest(plan(split, { path: '/' }, random))).toBe(want);
  });

  it('a route bound to the service but matching nothing → 404 NR', () => {
    const err = catchErr(() =>
      plan([route('r', [rule([prefix('/api')], [to('a')])])], { path: '/x' }),
    );
    expect(err).toMatchObject({ code: 'AMBIT_WAYPOINT_NO_ROUTE', status: 404 });
    expect(errorResponse(err, false).status).toBe(404);
  });

  it('an invalid backend picked by weight → 500', () => {
    const routes = [
      route('r', [
        rule(
          [prefix('/')],
          [to('a', 1), { kind: 'invalid', reason: 'Service app/x not found', weight: 1 }],
        ),
      ]),
    ];
    expect(dest(plan(routes, { path: '/' }, 0.2))).toBe('a');
    const err = catchErr(() => plan(routes, { path: '/' }, 0.7));
    expect(err).toMatchObject({ code: 'AMBIT_WAYPOINT_INVALID_BACKEND' });
    expect(errorResponse(err, false).status).toBe(500);
  });

  it('a rule whose backends all weigh 0 → 500', () => {
    const err = catchErr(() =>
      plan([route('r', [rule([prefix('/')], [to('a', 0)])])], { path: '/' }),
    );
    expect(errorResponse(err, false).status).toBe(500);
  });
});

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
