// The controller against the run's real API server (e2e global setup): informers → translation →
// a real ConfigStreamClient on its :15012; the CA's TokenReview-based refusals; the Waypoint
// reconciler; CRD validation; restart with a connected client. No kubelet runs: Pods are created
// bound to Nodes we create, and their status is set through the status subresource.

import { connect as h2connect } from 'node:http2';
import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CaClient } from '@ambit/core/ca-service/client';
import { CA_PATH, encodeCertificateRequest } from '@ambit/core/ca-service/protocol';
import { generateP256KeyPair } from '@ambit/core/identity/csr';
import { formatSpiffeId, type SpiffeId } from '@ambit/core/identity/spiffe-id';
import { P256_SHA256, x509 } from '@ambit/core/identity/x509';
import { createLogger } from '@ambit/core/log';
import type { AnyConfigUpdate } from '@ambit/core/mesh/config-source';
import { ConfigStreamClient } from '@ambit/core/mesh/stream-client';
import { RESOURCE_TYPES } from '@ambit/core/mesh/stream-protocol';
import type { Service, Workload } from '@ambit/core/mesh/types';
import { loadConfig } from './config.ts';
import { Controller } from './controller.ts';
import { apiStatus, type KubeClients } from './kube/kube-clients.ts';
import {
  createNode,
  createRunningPod,
  deletePod,
  ensureNamespace,
  ensureServiceAccount,
  installCrds,
  kubeClients,
  requestToken,
  setPodStatus,
  waitFor,
} from './testing/kube-fixtures.ts';

const id = randomBytes(3).toString('hex');
const sys = `ctl-sys-${id}`;
const app = `ctl-app-${id}`;
const nodeA = `ctl-a-${id}`;
const nodeB = `ctl-b-${id}`;
const quiet = { write: () => true };

function startController(kubeconfig: string, identity: string, port = 0): Promise<Controller> {
  const config = loadConfig(
    [
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      sys,
      '--listen',
      `127.0.0.1:${port}`,
      '--monitoring-addr',
      '127.0.0.1:0',
      '--identity',
      identity,
      '--lease-duration',
      '4',
      '--waypoint-image',
      'registry.invalid/waypoint:test',
    ],
    {},
  );
  if (config === 'help') throw new Error('help');
  return Controller.start(config, {
    log: createLogger({ level: 'warn', out: quiet }),
    retryPeriodMs: 500,
    streamDebounceMs: 20,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
  });
}

describe('controller against a real API server', () => {
  let c: KubeClients;
  let ctl: Controller;
  let ztunnelPod: V1Pod;
  let token: string;
  let refusedCrds: Map<string, string>;

  const client = (controller: Controller, updates: AnyConfigUpdate[] = []) =>
    new ConfigStreamClient({
      address: { host: '127.0.0.1', port: controller.addresses().stream.port },
      roots: controller.roots,
      serverName: `ambit-controller.${sys}.svc`,
      token: { supply: () => token },
      node: nodeA,
      types: RESOURCE_TYPES,
      backoff: { initialMs: 50, maxMs: 300 },
      onUpdate: (u) => updates.push(u),
    }).start();

  const held = <T>(
    s: ConfigStreamClient,
    type: 'Workload' | 'Service',
    key: string,
  ): T | undefined => s.resources(type).get(key) as T | undefined;

  beforeAll(async () => {
    c = kubeClients(inject('ambitKubeconfig'));
    refusedCrds = await installCrds(c);
    await ensureNamespace(c, sys);
    await ensureNamespace(c, app);
    await createNode(c, nodeA);
    await createNode(c, nodeB);
    await ensureServiceAccount(c, sys, 'ztunnel');
    ztunnelPod = await createRunningPod(c, {
      namespace: sys,
      name: 'ztunnel-a',
      node: nodeA,
      ip: '10.77.0.2',
      serviceAccount: 'ztunnel',
      enrolled: false,
    });
    token = await requestToken(c, sys, 'ztunnel', {
      pod: { name: 'ztunnel-a', uid: ztunnelPod.metadata?.uid ?? '' },
    });
    ctl = await startController(inject('ambitKubeconfig'), 'replica-1');
    await waitFor('controller ready', () => ctl.readiness().ready);
  });

  afterAll(async () => {
    await ctl?.stop();
    for (const ns of [app, sys]) {
      const pods = await c?.core.listNamespacedPod({ namespace: ns }).catch(() => undefined);
      for (const p of pods?.items ?? []) await deletePod(c, ns, p.metadata?.name ?? '');
    }
    await c?.core.deleteNamespace({ name: app }).catch(() => {});
    await c?.core.deleteNamespace({ name: sys }).catch(() => {});
    for (const n of [nodeA, nodeB]) await c?.core.deleteNode({ name: n }).catch(() => {});
  });

  it('streams enrolled pods of a labelled namespace as HBONE workloads, and as TCP once unlabelled', async () => {
    const web = await createRunningPod(c, {
      namespace: app,
      name: 'web-1',
      node: nodeA,
      ip: '10.77.1.1',
      labels: { app: 'web' },
    });
    const uid = web.metadata?.uid ?? '';
    const s = client(ctl);
    try {
      await s.ready();
      const protocol = () => held<Workload>(s, 'Workload', uid)?.protocol;
      await waitFor('web-1 as TCP', () => protocol() === 'TCP');
      await c.core.patchNamespace(
        { name: app, body: { metadata: { labels: { 'ambit.dev/dataplane-mode': 'ambient' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await waitFor('web-1 as HBONE', () => protocol() === 'HBONE');
      await c.core.patchNamespace(
        { name: app, body: { metadata: { labels: { 'ambit.dev/dataplane-mode': null } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await waitFor('web-1 back to TCP', () => protocol() === 'TCP');
      await c.core.patchNamespace(
        { name: app, body: { metadata: { labels: { 'ambit.dev/dataplane-mode': 'ambient' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await waitFor('web-1 HBONE again', () => protocol() === 'HBONE');
      // The root bundle reaches the labelled namespace.
      const cm = await waitFor('ambit-root-cert ConfigMap', () =>
        c.core.readNamespacedConfigMap({ namespace: app, name: 'ambit-root-cert' }),
      );
      expect(cm.data?.['root-cert.pem']).toBe(ctl.roots);
      // …and the controller's own namespace, unlabelled, where ztunnel mounts it from.
      const own = await waitFor('ambit-root-cert in the controller namespace', () =>
        c.core.readNamespacedConfigMap({ namespace: sys, name: 'ambit-root-cert' }),
      );
      expect(own.data?.['root-cert.pem']).toBe(ctl.roots);
    } finally {
      await s.close();
    }
  });

  it("follows a Service's endpoints as its pod's readiness changes (EndpointSlices from kube-controller-manager)", async () => {
    await c.core.createNamespacedService({
      namespace: app,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    });
    const uid =
      (await c.core.readNamespacedPod({ namespace: app, name: 'web-1' })).metadata?.uid ?? '';
    const s = client(ctl);
    try {
      await s.ready();
      const endpoints = () =>
        (held<Service>(s, 'Service', `${app}/web`)?.endpoints ?? []).map(
          (e) => e.workloadUid as string,
        );
      await waitFor('endpoint listed', () => endpoints().includes(uid));
      await setPodStatus(c, app, 'web-1', { ip: '10.77.1.1', ready: false });
      await waitFor('endpoint gone when not ready', () => !endpoints().includes(uid));
      await setPodStatus(c, app, 'web-1', { ip: '10.77.1.1', ready: true });
      await waitFor('endpoint back when ready', () => endpoints().includes(uid));
    } finally {
      await s.close();
    }
  });

  it('reconciles a Waypoint into a ServiceAccount, Deployment and Service, and the namespace uses it', async () => {
    await c.custom.createNamespacedCustomObject({
      group: 'ambit.dev',
      version: 'v1alpha1',
      namespace: app,
      plural: 'waypoints',
      body: {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'Waypoint',
        metadata: { name: 'wp' },
        spec: { replicas: 1 },
      },
    });
    const dep = await waitFor('waypoint Deployment', () =>
      c.apps.readNamespacedDeployment({ namespace: app, name: 'wp' }),
    );
    expect(dep.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Waypoint',
      name: 'wp',
      controller: true,
    });
    const volume = dep.spec?.template.spec?.volumes?.find((v) => v.projected);
    expect(volume?.projected?.sources?.[0]?.serviceAccountToken?.audience).toBe('ambit-ca');
    const svc = await waitFor('waypoint Service', () =>
      c.core.readNamespacedService({ namespace: app, name: 'wp' }),
    );
    expect(svc.metadata?.labels?.['ambit.dev/waypoint']).toBe('wp');
    expect(svc.spec?.ports?.[0]?.port).toBe(15008);
    await waitFor('waypoint ServiceAccount', () =>
      c.core.readNamespacedServiceAccount({ namespace: app, name: 'wp' }),
    );
    type Wp = { status?: { conditions?: { type: string; status: string; reason: string }[] } };
    const cond = async (type: string) =>
      (
        (await c.custom.getNamespacedCustomObject({
          group: 'ambit.dev',
          version: 'v1alpha1',
          namespace: app,
          plural: 'waypoints',
          name: 'wp',
        })) as Wp
      ).status?.conditions?.find((x) => x.type === type);
    await waitFor('Accepted', async () => (await cond('Accepted'))?.status === 'True');
    expect((await cond('Programmed'))?.reason).toBe('Pending');

    // No kubelet: bind the ReplicaSet's pod to a node and make it ready, as a kubelet would.
    const pod = await waitFor(
      'waypoint pod',
      async () =>
        (await c.core.listNamespacedPod({ namespace: app, labelSelector: 'ambit.dev/waypoint=wp' }))
          .items[0],
    );
    const name = pod.metadata?.name ?? '';
    if (pod.spec?.nodeName === undefined) {
      await c.core.createNamespacedPodBinding({
        namespace: app,
        name,
        body: { metadata: { name }, target: { kind: 'Node', name: nodeA } },
      });
    }
    await setPodStatus(c, app, name, { ip: '10.77.9.9', ready: true });
    await waitFor('Programmed', async () => (await cond('Programmed'))?.status === 'True');

    const s = client(ctl);
    try {
      await s.ready();
      // The namespace's only Waypoint is its default; `for: service` (the default) puts it in
      // front of the namespace's Services.
      const ref = await waitFor(
        'Service web uses the waypoint',
        () => held<Service>(s, 'Service', `${app}/web`)?.waypoint,
      );
      expect(JSON.stringify(ref)).toContain(`/ns/${app}/sa/wp`);
    } finally {
      await s.close();
    }
  });

  it("refuses CSRs for a pod on another node, an unknown ServiceAccount, a wrong audience, a dead pod's token, and two SANs", async () => {
    await createRunningPod(c, {
      namespace: app,
      name: 'db-1',
      node: nodeB,
      ip: '10.77.2.1',
      serviceAccount: 'db',
    });
    const ca = (tok: string) =>
      new CaClient({
        host: '127.0.0.1',
        port: ctl.addresses().stream.port,
        rootsPem: ctl.roots,
        servername: `ambit-controller.${sys}.svc`,
        token: () => tok,
      });
    const spiffe = (ns: string, sa: string) =>
      formatSpiffeId({ trustDomain: 'cluster.local', namespace: ns, serviceAccount: sa });
    const refusal = async (tok: string, want: SpiffeId) => {
      const cl = ca(tok);
      try {
        await cl.requestCertificate(want);
        return 'signed';
      } catch (err) {
        return `${(err as { status?: number }).status} ${(err as Error).message}`;
      } finally {
        cl.close();
      }
    };
    // Allowed: a pod of default/app on node A.
    const ok = ca(token);
    const issued = await ok.requestCertificate(spiffe(app, 'default'));
    ok.close();
    expect(issued.id).toBe(spiffe(app, 'default'));

    expect(await refusal(token, spiffe(app, 'db'))).toMatch(/403 .*NotOnCallerNode/);
    expect(await refusal(token, spiffe(app, 'nobody'))).toMatch(/403 .*NotOnCallerNode/);
    const other = await requestToken(c, sys, 'ztunnel', {
      audience: 'not-ambit',
      pod: { name: 'ztunnel-a', uid: ztunnelPod.metadata?.uid ?? '' },
    });
    expect(await refusal(other, spiffe(app, 'default'))).toMatch(/401 .*TokenInvalid.*audience/);
    // A token whose pod is gone: TokenReview refuses it (no way to make one expire in a test:
    // TokenRequest's minimum lifetime is 10 minutes).
    const gone = await createRunningPod(c, {
      namespace: sys,
      name: 'ztunnel-gone',
      node: nodeA,
      ip: '10.77.0.3',
      serviceAccount: 'ztunnel',
      enrolled: false,
    });
    const stale = await requestToken(c, sys, 'ztunnel', {
      pod: { name: 'ztunnel-gone', uid: gone.metadata?.uid ?? '' },
    });
    await deletePod(c, sys, 'ztunnel-gone');
    await waitFor(
      'pod gone',
      async () =>
        !(await c.core.listNamespacedPod({ namespace: sys })).items.some(
          (p) => p.metadata?.name === 'ztunnel-gone',
        ),
    );
    expect(await refusal(stale, spiffe(app, 'default'))).toMatch(/401 .*TokenInvalid/);
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(await refusal(tampered, spiffe(app, 'default'))).toMatch(/401 .*TokenInvalid/);
    // A ServiceAccount that is neither ztunnel's nor a waypoint's.
    const appToken = await requestToken(c, app, 'default');
    expect(await refusal(appToken, spiffe(app, 'default'))).toMatch(/403 .*CallerNotAllowed/);

    // Two URI SANs in one CSR.
    const keys = await generateP256KeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: P256_SHA256,
      extensions: [
        new x509.SubjectAlternativeNameExtension(
          [
            { type: 'url', value: spiffe(app, 'default') },
            { type: 'url', value: spiffe(app, 'db') },
          ],
          true,
        ),
      ],
    });
    const session = h2connect(`https://127.0.0.1:${ctl.addresses().stream.port}`, {
      ca: ctl.roots,
      servername: `ambit-controller.${sys}.svc`,
    });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': CA_PATH,
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
      });
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end(
        encodeCertificateRequest({ id: spiffe(app, 'default'), csrPem: csr.toString('pem') }),
      );
    });
    session.close();
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/SAN|identit/i);
  });

  /** Creates an Ambit object in the app namespace (only validated when dryRun). */
  const createAmbit = async (plural: string, body: object, dryRun = false): Promise<string> => {
    try {
      await c.custom.createNamespacedCustomObject({
        group: 'ambit.dev',
        version: 'v1alpha1',
        namespace: app,
        plural,
        body,
        ...(dryRun ? { dryRun: 'All' } : {}),
      });
      return 'created';
    } catch (err) {
      return String((err as { body?: unknown }).body ?? err);
    }
  };

  it('has every CRD file accepted by the API server (CEL cost budget and all)', () => {
    expect(Object.fromEntries(refusedCrds)).toEqual({});
  });

  it('has an invalid Waypoint refused by the API server with a message to act on', async () => {
    expect(
      await createAmbit('waypoints', {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'Waypoint',
        metadata: { name: 'bad' },
        spec: { replicas: 0 },
      }),
    ).toMatch(/spec.replicas.*should be greater than or equal to 1/);
    const withResources = (requests: object, limits: object) =>
      createAmbit(
        'waypoints',
        {
          apiVersion: 'ambit.dev/v1alpha1',
          kind: 'Waypoint',
          metadata: { name: `res-${randomBytes(2).toString('hex')}` },
          spec: { resources: { requests, limits } },
        },
        true,
      );
    const aboveLimit = /a resource's request must not be larger than its limit/;
    expect(await withResources({ cpu: 2 }, { cpu: 1 })).toMatch(aboveLimit);
    expect(
      await withResources({ cpu: '1500m', memory: '1Gi' }, { cpu: '1', memory: '2Gi' }),
    ).toMatch(aboveLimit);
    expect(await withResources({ memory: '3Gi' }, { memory: '2048Mi' })).toMatch(aboveLimit);
    expect(await withResources({ cpu: '500m', memory: '1Gi' }, { cpu: 1, memory: '1024Mi' })).toBe(
      'created',
    );
  });

  it('has an invalid AuthorizationPolicy refused by the API server with a message to act on', async () => {
    // The CRD itself must be accepted by a real API server first (CEL cost budget and all).
    expect(Object.fromEntries(refusedCrds)).toEqual({});
    expect(
      await createAmbit('authorizationpolicies', {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'bad' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          targetRefs: [{ kind: 'Service', name: 'web' }],
        },
      }),
    ).toMatch(/set selector or targetRefs, not both/);
  });

  it('deletes the root ConfigMaps it made when their namespace leaves the mesh (also while it was down), never one that is not labelled as its own', async () => {
    const leave = `ctl-leave-${id}`;
    const kept = `ctl-kept-${id}`;
    const down = `ctl-down-${id}`;
    const mode = 'ambit.dev/dataplane-mode';
    const setMode = (name: string, value: string | null) =>
      c.core.patchNamespace(
        { name, body: { metadata: { labels: { [mode]: value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const rootCm = (namespace: string) =>
      c.core
        .readNamespacedConfigMap({ namespace, name: 'ambit-root-cert' })
        .catch((err: unknown) => {
          if (apiStatus(err) === 404) return undefined;
          throw err;
        });
    try {
      for (const ns of [leave, kept, down]) await ensureNamespace(c, ns, { [mode]: 'ambient' });
      for (const ns of [leave, kept, down]) {
        const cm = await waitFor(`root ConfigMap in ${ns}`, () => rootCm(ns));
        expect(cm.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('ambit-controller');
      }
      // Someone takes the one in `kept` over (drops the label): from then on it is theirs.
      await c.core.patchNamespacedConfigMap(
        {
          namespace: kept,
          name: 'ambit-root-cert',
          body: { metadata: { labels: { 'app.kubernetes.io/managed-by': null } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await setMode(kept, null);
      await setMode(leave, null);
      await waitFor(`root ConfigMap of ${leave} deleted`, async () => !(await rootCm(leave)));
      // `kept` left first and sorts first: the pass that deleted leave's had judged it.
      expect((await rootCm(kept))?.data?.['root-cert.pem']).toBe(ctl.roots);
      expect(await rootCm(down)).toBeDefined();

      // A namespace that leaves while no controller runs: the next leader's sweep finds it.
      const port = ctl.addresses().stream.port;
      await ctl.stop();
      await setMode(down, null);
      ctl = await startController(inject('ambitKubeconfig'), 'replica-1c', port);
      await waitFor(
        `root ConfigMap of ${down} deleted after a restart`,
        async () => !(await rootCm(down)),
        30_000,
      );
      expect(await rootCm(kept)).toBeDefined();
    } finally {
      for (const ns of [leave, kept, down])
        await c.core.deleteNamespace({ name: ns }).catch(() => {});
    }
  });

  it('a client keeps its config while the controller is gone; a restart resyncs and reports only what changed', async () => {
    const updates: AnyConfigUpdate[] = [];
    const s = client(ctl, updates);
    try {
      await s.ready();
      const web =
        (await c.core.readNamespacedPod({ namespace: app, name: 'web-1' })).metadata?.uid ?? '';
      expect(held<Workload>(s, 'Workload', web)).toBeDefined();
      const port = ctl.addresses().stream.port;
      await ctl.stop();
      await waitFor('client disconnected', () => !s.state().connected);
      expect(held<Workload>(s, 'Workload', web)?.protocol).toBe('HBONE');
      // A change while no controller runs.
      const late = await createRunningPod(c, {
        namespace: app,
        name: 'web-2',
        node: nodeA,
        ip: '10.77.1.2',
        labels: { app: 'web' },
      });
      updates.length = 0;
      ctl = await startController(inject('ambitKubeconfig'), 'replica-1b', port);
      const lateUid = late.metadata?.uid ?? '';
      await waitFor(
        'web-2 after restart',
        () => held<Workload>(s, 'Workload', lateUid)?.protocol === 'HBONE',
        30_000,
      );
      await waitFor(
        'every type resynced',
        () => new Set(updates.map((u) => u.type)).size === RESOURCE_TYPES.length || undefined,
        10_000,
      ).catch(() => undefined);
      // Only this test's namespace counts: other suites share the API server.
      const ours = new Set(
        (await c.core.listNamespacedPod({ namespace: app })).items.map(
          (p) => p.metadata?.uid ?? '',
        ),
      );
      const changedWorkloads = updates
        .filter((u) => u.type === 'Workload')
        .flatMap((u) => u.changed)
        .filter((k) => ours.has(k));
      expect(changedWorkloads).toEqual([lateUid]);
      const removed = updates
        .flatMap((u) => u.removed)
        .filter((k) => ours.has(k) || k.startsWith(`${app}/`));
      expect(removed).toEqual([]);
      const changedServices = updates.filter((u) => u.type === 'Service').flatMap((u) => u.changed);
      expect(changedServices.filter((k) => k.startsWith(`${app}/`))).toEqual([`${app}/web`]); // web-2 is a new endpoint
      for (const u of updates)
        if (u.type === 'MeshConfig' || u.type === 'Route') expect(u.changed).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
