// Scenario: a Waypoint in an ambient namespace puts L7 in the path of the namespace's Services. The
// controller turns the Waypoint into a Deployment + Service; a Gateway API HTTPRoute bound to a
// Service splits its traffic 80/20 over two versions; an HTTPRoute `retry` rescues a backend that
// fails every other request with 503; an L7 AuthorizationPolicy answers 403 from the waypoint. The
// client is on one node, the backends on the other; the backends' ztunnel sees the waypoint as
// the caller and the waypoint's metrics (reporter="waypoint") count the requests.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectlFor } from '../kubectl.ts';
import type { ClusterAccess } from '../providers/cluster-provider.ts';
import { ensureHttpRouteRetry } from './gateway-api.ts';
import {
  httpBatch,
  httpOnce,
  httpUntil,
  metricSum,
  podMetrics,
  type MetricSample,
  waypointAccessLog,
} from './http-client.ts';
import { installMesh, MESH_NAMESPACE, podOnNode } from './mesh-install.ts';
import {
  createNamespace,
  deployClient,
  podFacts,
  podOf,
  sleep,
  uniqueName,
  waitEnrolled,
  workerNodes,
} from './workloads.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const ns = uniqueName('waypoint');
const WAYPOINT = 'waypoint';
const ROUTE_HEADER = 'x-ambit-route';
let node1 = '';
let node2 = '';
let waypointPod = '';

const svcUrl = (svc: string, path = '/'): string => `http://${svc}.${ns}.svc.cluster.local${path}`;
const host = (svc: string): string => `${svc}.${ns}.svc.cluster.local`;

// Answers `<APP> <pod> <method> <path>`; with MODE=flaky every other request (the 1st, 3rd, …)
// is a 503 `flaky 503 …` instead: about half its requests fail, never two in a row.
const SERVER = `let n = 0;
require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    n++;
    if (process.env.MODE === 'flaky' && n % 2 === 1) { res.statusCode = 503; res.end('flaky 503 #' + n); return; }
    res.end(process.env.APP + ' ' + process.env.POD_NAME + ' ' + req.method + ' ' + req.url + ' #' + n);
  });
}).listen(8080)`;

/** A one-replica Deployment `app` on `node` (ServiceAccount `app`) behind Service `app` (80 → 8080). */
function backend(access: ClusterAccess, app: string, node: string, mode = 'ok'): object[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: app, namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: app, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app } },
        template: {
          metadata: { labels: { app } },
          spec: {
            nodeName: node,
            serviceAccountName: app,
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: access.testImage,
                imagePullPolicy: 'IfNotPresent',
                command: ['/usr/local/bin/node', '-e', SERVER],
                env: [
                  { name: 'APP', value: app },
                  { name: 'MODE', value: mode },
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                ],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
    service(app, app),
  ];
}

function service(name: string, app: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

function httpRoute(name: string, parent: string, rules: object[]): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: ns },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }], rules },
  };
}

const routeHeader = (value: string): object => ({
  type: 'ResponseHeaderModifier',
  responseHeaderModifier: { set: [{ name: ROUTE_HEADER, value }] },
});

/**
 * Applies an HTTPRoute that uses `retry` (experimental channel). Another run's `cluster.sh up` may
 * put the standard HTTPRoute CRD back at any moment, and kubectl validates against the schema the
 * API server published a moment ago: so make sure of the CRD, apply, and check that the stored
 * route kept its `retry`.
 */
async function applyRetryRoute(route: object): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 10; i++) {
    await ensureHttpRouteRetry(kubectl);
    try {
      await apply(kubectl, [route]);
      const name = (route as { metadata: { name: string } }).metadata.name;
      const stored = await kubectl('-n', ns, 'get', 'httproute', name, '-o', 'json');
      if (stored.includes('"retry"')) return;
      last = new Error(`HTTPRoute ${name} was stored without its retry`);
    } catch (err) {
      last = err;
    }
    await sleep(1000);
  }
  throw last;
}

async function waypointMetrics(): Promise<MetricSample[]> {
  return podMetrics(kubectl, ns, waypointPod);
}

describe('a Waypoint with HTTPRoutes and an L7 policy, client and backends on two nodes', () => {
  beforeAll(async () => {
    await installMesh(access);
    await ensureHttpRouteRetry(kubectl);
    [node1 = '', node2 = ''] = await workerNodes(kubectl);
    await createNamespace(kubectl, ns, true);
    // The only Waypoint of an ambient namespace serves all its Services (docs/controller.md,
    // "Waypoint selection"). `web` is the Service the clients call; its own pods are web-v1's.
    await apply(kubectl, [
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'Waypoint',
        metadata: { name: WAYPOINT, namespace: ns },
        spec: { for: 'service' },
      },
      ...backend(access, 'web-v1', node2),
      ...backend(access, 'web-v2', node2),
      ...backend(access, 'flaky', node2, 'flaky'),
      service('web', 'web-v1'),
    ]);
    await deployClient(kubectl, access, ns, 'client', node1);
    for (const app of ['web-v1', 'web-v2', 'flaky'])
      await kubectl('-n', ns, 'rollout', 'status', `deployment/${app}`, '--timeout=180s');
    await waitEnrolled(kubectl, ns, 'client');
    for (const app of ['web-v1', 'web-v2', 'flaky'])
      await waitEnrolled(kubectl, ns, await podOf(kubectl, ns, app));
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('the controller runs the Waypoint as a Deployment and Service and marks it Programmed', async () => {
    // The reconciler creates the Deployment a moment after the Waypoint.
    for (let i = 0; i < 60; i++) {
      const out = await kubectl(
        '-n',
        ns,
        'get',
        'deployments',
        '-l',
        `ambit.dev/waypoint=${WAYPOINT}`,
        '-o',
        'name',
      );
      if (out.trim() !== '') break;
      await sleep(500);
    }
    await kubectl('-n', ns, 'rollout', 'status', `deployment/${WAYPOINT}`, '--timeout=120s');
    await kubectl(
      '-n',
      ns,
      'wait',
      '--for=condition=Programmed',
      `waypoint/${WAYPOINT}`,
      '--timeout=60s',
    );
    const svc = JSON.parse(await kubectl('-n', ns, 'get', 'service', WAYPOINT, '-o', 'json')) as {
      spec: { clusterIP: string; ports: { port: number }[] };
    };
    const wp = JSON.parse(await kubectl('-n', ns, 'get', 'waypoint', WAYPOINT, '-o', 'json')) as {
      status: { addresses?: { value: string }[] };
    };
    expect(svc.spec.ports.map((p) => p.port)).toEqual([15008]);
    expect(wp.status.addresses?.[0]?.value).toBe(svc.spec.clusterIP);
    waypointPod = (
      await kubectl(
        '-n',
        ns,
        'get',
        'pods',
        '-l',
        `ambit.dev/waypoint=${WAYPOINT}`,
        '-o',
        'jsonpath={.items[0].metadata.name}',
      )
    ).trim();
    expect(waypointPod).not.toBe('');
  }, 180_000);

  it('an HTTPRoute splits 80/20 between web-v1 and web-v2', async () => {
    await apply(kubectl, [
      httpRoute('web-split', 'web', [
        {
          backendRefs: [
            { name: 'web-v1', port: 80, weight: 80 },
            { name: 'web-v2', port: 80, weight: 20 },
          ],
          filters: [routeHeader('web-split')],
        },
      ]),
    ]);
    // Until the waypoint has the route, `web` answers from web-v1 without the header.
    const first = await httpUntil(
      kubectl,
      ns,
      'client',
      svcUrl('web'),
      `r.headers['${ROUTE_HEADER}'] === 'web-split'`,
      {
        headers: [ROUTE_HEADER],
        seconds: 60,
      },
    );
    expect(first.headers[ROUTE_HEADER]).toBe('web-split');

    const before = await waypointMetrics();
    const n = 1000;
    const batch = await httpBatch(kubectl, ns, 'client', svcUrl('web', '/split'), {
      count: n,
      concurrency: 8,
    });
    const v1 = batch.byKey['200 web-v1'] ?? 0;
    const v2 = batch.byKey['200 web-v2'] ?? 0;
    expect(batch.byKey, JSON.stringify(batch.samples)).toEqual({
      '200 web-v1': v1,
      '200 web-v2': v2,
    });
    // Each request picks web-v2 with p = 0.2 independently: the count is binomial, the share's
    // standard deviation sqrt(0.2 × 0.8 / 1000) = 1.26 points. ±5 points is ~4 σ: a correct split
    // fails this about once in 13,000 runs (exact binomial tail: 7.7e-5), while 75/25 or 85/15 (off by 5 points) already
    // fail it about half the time.
    expect(Math.abs(v2 / n - 0.2)).toBeLessThanOrEqual(0.05);

    // The waypoint counted them (reporter="waypoint"), per backend Service.
    const after = await waypointMetrics();
    const delta = (svc: string): number =>
      metricSum(after, 'istio_requests_total', {
        reporter: 'waypoint',
        destination_service: host(svc),
        response_code: '200',
      }) -
      metricSum(before, 'istio_requests_total', {
        reporter: 'waypoint',
        destination_service: host(svc),
        response_code: '200',
      });
    expect({ v1: delta('web-v1'), v2: delta('web-v2') }).toEqual({ v1, v2 });
  });

  it('an HTTPRoute retry on 503 rescues a backend that fails every other request', async () => {
    const flaky = await podFacts(kubectl, ns, await podOf(kubectl, ns, 'flaky'));
    // Addressed directly (pod IP: no waypoint for a Service-only Waypoint), half the requests fail.
    const direct = await httpBatch(kubectl, ns, 'client', `http://${flaky.ip}:8080/direct`, {
      count: 6,
    });
    expect(direct.byKey).toEqual({ '503 flaky': 3, '200 flaky': 3 });

    await applyRetryRoute(
      httpRoute('flaky-retry', 'flaky', [
        {
          // Tells when the waypoint has this route: /warm goes to web-v1 and carries the header.
          matches: [{ path: { type: 'PathPrefix', value: '/warm' } }],
          backendRefs: [{ name: 'web-v1', port: 80 }],
          filters: [routeHeader('flaky-retry')],
        },
        {
          backendRefs: [{ name: 'flaky', port: 80 }],
          retry: { codes: [503], attempts: 2, backoff: '10ms' },
        },
      ]),
    );
    const warm = await httpUntil(
      kubectl,
      ns,
      'client',
      svcUrl('flaky', '/warm'),
      `r.headers['${ROUTE_HEADER}'] === 'flaky-retry'`,
      {
        headers: [ROUTE_HEADER],
        seconds: 60,
      },
    );
    expect(warm.body).toMatch(/^web-v1 /);

    const before = await waypointMetrics();
    // 10 requests, one after another: each needs at most one retry. The waypoint's retry budget
    // (10 retries per 10 s window + 20 % of the requests) covers them all.
    const n = 10;
    const batch = await httpBatch(kubectl, ns, 'client', svcUrl('flaky', '/rescued'), { count: n });
    expect(batch.byKey, JSON.stringify(batch.samples)).toEqual({ '200 flaky': n });

    const after = await waypointMetrics();
    const retries = (outcome: string): number =>
      metricSum(after, 'ambit_waypoint_retries_total', {
        destination_service: host('flaky'),
        outcome,
      }) -
      metricSum(before, 'ambit_waypoint_retries_total', {
        destination_service: host('flaky'),
        outcome,
      });
    // Every request met the flaky server at an odd count but possibly the first.
    expect(retries('retried')).toBeGreaterThanOrEqual(n - 1);
    expect(retries('budget_exhausted')).toBe(0);
  });

  it('an L7 AuthorizationPolicy: the waypoint answers 403 to a denied path and method, 200 otherwise', async () => {
    const targetRefs = [{ group: '', kind: 'Service', name: 'web' }];
    await apply(kubectl, [
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'web-deny-admin', namespace: ns },
        spec: {
          targetRefs,
          action: 'DENY',
          rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }],
        },
      },
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'web-allow-get', namespace: ns },
        spec: {
          targetRefs,
          action: 'ALLOW',
          rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
        },
      },
    ]);
    const denied = await httpUntil(
      kubectl,
      ns,
      'client',
      svcUrl('web', '/admin/users'),
      'r.status === 403',
      {
        headers: ['x-ambit-error'],
        seconds: 60,
      },
    );
    expect(denied.status).toBe(403);
    expect(denied.body).toMatch(/^RBAC: access denied: .*web-deny-admin/);
    // The POST waits out the ALLOW policy the same way (both arrive in one config update, but the
    // wait costs nothing when they did).
    const post = await httpUntil(
      kubectl,
      ns,
      'client',
      svcUrl('web', '/orders'),
      'r.status === 403',
      {
        method: 'POST',
        seconds: 30,
      },
    );
    expect(post.status).toBe(403);
    expect(post.body).toMatch(/^RBAC: access denied/);
    const allowed = await httpOnce(kubectl, ns, 'client', svcUrl('web', '/orders'));
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatch(/^web-v[12] .* GET \/orders /);

    const metrics = await waypointMetrics();
    expect(
      metricSum(metrics, 'istio_requests_total', {
        reporter: 'waypoint',
        destination_service: host('web'),
        response_code: '403',
      }),
    ).toBeGreaterThanOrEqual(2);
  });

  it("the waypoint logged the client's requests, and the backends' ztunnel saw only the waypoint call them", async () => {
    const clientId = `spiffe://cluster.local/ns/${ns}/sa/client`;
    const waypointId = `spiffe://cluster.local/ns/${ns}/sa/${WAYPOINT}`;
    // The waypoint's access log: the client's identity (from HBONE mTLS), the route, the retries.
    const log = await waypointAccessLog(kubectl, ns, waypointPod);
    const byPath = (path: string) => log.filter((l) => l.path === path);
    expect(byPath('/split').length).toBe(1000);
    expect(byPath('/admin/users').at(-1)).toMatchObject({
      src: { identity: clientId },
      method: 'GET',
      status: 403,
    });
    const rescued = byPath('/rescued');
    expect(rescued.map((l) => l.status)).toEqual(Array<number>(10).fill(200));
    expect(rescued.reduce((n, l) => n + Number(l.retries), 0)).toBeGreaterThanOrEqual(9);

    // The backends' node: every connection to web-v1 and web-v2 came from the waypoint (HBONE,
    // mutual TLS, the waypoint's SPIFFE ID); none from the client itself.
    const ztunnel = await podOnNode(kubectl, 'ztunnel', node2);
    const metrics = await podMetrics(kubectl, MESH_NAMESPACE, ztunnel);
    const opened = (source: string, workload: string): number =>
      metricSum(metrics, 'istio_tcp_connections_opened_total', {
        reporter: 'destination',
        source_principal: source,
        destination_workload: workload,
        destination_workload_namespace: ns,
        connection_security_policy: 'mutual_tls',
      });
    for (const app of ['web-v1', 'web-v2', 'flaky'])
      expect(opened(waypointId, app), app).toBeGreaterThan(0);
    expect(opened(clientId, 'web-v1') + opened(clientId, 'web-v2')).toBe(0);
  });
});
