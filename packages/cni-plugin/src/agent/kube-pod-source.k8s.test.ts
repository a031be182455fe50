// The Kubernetes PodSource against a real API server (e2e/vitest.k8s.config.ts starts etcd +
// kube-apiserver), driving the real node agent (root: real pod netns made by the CNI plugins and
// ambit-cni, nft rules) with an InpodServer standing in for ztunnel. No kubelet: the test creates
// the Node, Namespace and Pod objects itself, and the pod netns that a runtime would make.
//
//   scripts/with-toolchain pnpm exec vitest run --config e2e/vitest.k8s.config.ts \
//     packages/cni-plugin/src/agent/kube-pod-source.k8s.test.ts

import { join } from 'node:path';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import { ENROLLED_ANNOTATION } from '@ambit/core/mesh/ambient';
import { CniNode, type TestPod } from '../testing/cni-node.ts';
import { waitFor, ztunnelRecorder, type Recorder } from '../testing/ztunnel-recorder.ts';
import { CniServer } from './cni-server.ts';
import { KubePodSource } from './kube-pod-source.ts';
import { NodeAgent } from './node-agent.ts';

const MODE = 'ambit.dev/dataplane-mode';
const quiet = createLogger({ level: 'error', out: { write: () => true } });

describe('node agent with the Kubernetes PodSource (real API server)', () => {
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const nodeName = `kps-node-${suffix}`;
  const otherNode = `kps-other-${suffix}`;
  const namespace = `kps-${suffix}`;
  let core: CoreV1Api;
  let kc: KubeConfig;
  let node: CniNode;
  let source: KubePodSource;
  let agent: NodeAgent;
  let cniServer: CniServer;
  let zt: Recorder;

  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const labelNamespace = (mode: string | null): Promise<unknown> =>
    core.patchNamespace(
      { name: namespace, body: { metadata: { labels: { [MODE]: mode } } } },
      mergePatch,
    );
  const annotation = async (name: string): Promise<string | undefined> =>
    (await core.readNamespacedPod({ name, namespace })).metadata?.annotations?.[
      ENROLLED_ANNOTATION
    ];
  /** Polls `fn` until `ok` holds (or 15 s pass); returns the last value. */
  async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const end = Date.now() + 15_000;
    for (;;) {
      const v = await fn();
      if (ok(v) || Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const uidOf = (o: { metadata?: { uid?: string } }): string => {
    if (!o.metadata?.uid) throw new Error('the API server returned an object without uid');
    return o.metadata.uid;
  };

  /** A Pod object bound to `onNode` (no kubelet runs it), and its sandbox netns made by CNI. */
  async function createPod(name: string, onNode = nodeName): Promise<TestPod> {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app: name } },
        spec: {
          nodeName: onNode,
          serviceAccountName: 'web',
          automountServiceAccountToken: false,
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        },
      },
    });
    return node.newPod(namespace, name, uidOf(pod));
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this suite needs root (pod netns, nft)');
    kc = new KubeConfig();
    kc.loadFromFile(inject('ambitKubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    for (const n of [nodeName, otherNode])
      await core.createNode({ body: { metadata: { name: n } } });
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'web' } } });

    node = new CniNode('/placeholder', 78);
    node.ambitConfig = { ...node.ambitConfig, agentSocket: join(node.dir, 'cni.sock') };
    zt = await ztunnelRecorder(join(node.dir, 'ztunnel.sock'));
    source = new KubePodSource({ kubeConfig: kc, node: nodeName, logger: quiet });
    await source.start();
    agent = new NodeAgent({
      node: nodeName,
      source,
      stateFile: join(node.dir, 'agent-state.json'),
      ztunnel: { socketPath: join(node.dir, 'ztunnel.sock'), ackTimeoutMs: 2000 },
      logger: quiet,
    });
    cniServer = new CniServer({
      socketPath: join(node.dir, 'cni.sock'),
      handle: (r) => agent.handleCni(r),
    });
    await cniServer.listen();
    await agent.start();
  });

  afterAll(async () => {
    await cniServer?.close().catch(() => undefined);
    await agent?.close().catch(() => undefined);
    await source?.close();
    await zt?.server.close();
    node?.cleanup();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
    for (const n of [nodeName, otherNode])
      await core?.deleteNode({ name: n }).catch(() => undefined);
  });

  it('sees only this node’s pods and the namespace labels, from its watch caches', async () => {
    const here = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'watched' },
        spec: {
          nodeName,
          serviceAccountName: 'web',
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        },
      },
    });
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'elsewhere' },
        spec: {
          nodeName: otherNode,
          serviceAccountName: 'web',
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        },
      },
    });
    let changes = 0;
    source.onChange(() => changes++);
    await labelNamespace('ambient');
    // The cache follows the label, and the agent is told (once per burst, asynchronously).
    await waitFor(() => source.getNamespace(namespace)?.labels[MODE] === 'ambient');
    await waitFor(() => changes > 0);
    expect(await source.getPod(namespace, 'watched')).toEqual({
      uid: here.metadata!.uid,
      name: 'watched',
      namespace,
      serviceAccount: 'web',
      labels: {},
      annotations: {},
    });
    // Only this node's pods are watched (spec.nodeName field selector).
    await waitFor(() => source.watchedPods().some((p) => p.name === 'watched'));
    expect(source.watchedPods().map((p) => p.name)).not.toContain('elsewhere');
    await labelNamespace(null);
    await waitFor(() => source.getNamespace(namespace)?.labels[MODE] === undefined);
    await core.deleteNamespacedPod({ name: 'watched', namespace, gracePeriodSeconds: 0 });
    await core.deleteNamespacedPod({ name: 'elsewhere', namespace, gracePeriodSeconds: 0 });
  });

  it('labelling the namespace enrols a running pod and annotates it; unlabelling releases it and removes the annotation', async () => {
    const web = await createPod('web-0');
    const { ambit } = await node.addPod(web);
    expect(ambit.code).toBe(0);
    // Not ambient yet: running, uncaptured, unannotated.
    expect(node.nftTable(web.netns, 'ambit')).toBeUndefined();
    expect(zt.held.has(web.uid)).toBe(false);
    expect(await annotation('web-0')).toBeUndefined();

    await labelNamespace('ambient');
    await waitFor(() => zt.held.has(web.uid), 15_000);
    expect(node.nftTable(web.netns, 'ambit')).toContain('redirect to :15001');
    const mark = await eventually(
      () => annotation('web-0'),
      (v) => v !== undefined,
    );
    expect(mark).toMatch(new RegExp(`^${nodeName}/\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));

    await labelNamespace(null);
    await waitFor(() => !zt.held.has(web.uid), 15_000);
    expect(node.nftTable(web.netns, 'ambit')).toBeUndefined();
    expect(
      await eventually(
        () => annotation('web-0'),
        (v) => v === undefined,
      ),
    ).toBeUndefined();
    await node.delPod(web);
    node.removePod(web);
  });

  it('a pod created in an ambient namespace is enrolled at CNI ADD and annotated; DEL removes the annotation; an opted-out pod is left alone', async () => {
    await labelNamespace('ambient');
    await waitFor(() => source.getNamespace(namespace)?.labels[MODE] === 'ambient');
    const api = await createPod('api-0');
    const { ambit } = await node.addPod(api);
    expect(ambit.code).toBe(0);
    expect(zt.held.get(api.uid)).toMatchObject({
      name: 'api-0',
      namespace,
      serviceAccount: 'web',
    });
    // The annotation is written before ambit-cni returns.
    expect(await annotation('api-0')).toMatch(new RegExp(`^${nodeName}/`));

    expect((await node.delPod(api)).code).toBe(0);
    expect(zt.held.has(api.uid)).toBe(false);
    expect(await annotation('api-0')).toBeUndefined();
    node.removePod(api);

    const out = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'opt-out', labels: { [MODE]: 'none' } },
        spec: {
          nodeName,
          serviceAccountName: 'web',
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        },
      },
    });
    const sandbox = node.newPod(namespace, 'opt-out', uidOf(out));
    expect((await node.addPod(sandbox)).ambit.code).toBe(0);
    expect(zt.held.has(sandbox.uid)).toBe(false);
    expect(node.nftTable(sandbox.netns, 'ambit')).toBeUndefined();
    expect(await annotation('opt-out')).toBeUndefined();
    await node.delPod(sandbox);
    node.removePod(sandbox);
    await labelNamespace(null);
  });

  it('does not annotate a pod whose name now belongs to another pod (uid precondition)', async () => {
    const old = await createPod('reused');
    const facts = (await source.getPod(namespace, 'reused'))!;
    await core.deleteNamespacedPod({ name: 'reused', namespace, gracePeriodSeconds: 0 });
    node.removePod(old);
    await eventually(
      () => source.getPod(namespace, 'reused'),
      (p) => p === undefined,
    );
    const now = await createPod('reused');
    expect(now.uid).not.toBe(old.uid);
    await source.recordEnrolment(facts, true);
    expect(await annotation('reused')).toBeUndefined();
    // The same call with the current pod's facts does write it.
    await source.recordEnrolment((await source.getPod(namespace, 'reused'))!, true);
    expect(await annotation('reused')).toMatch(new RegExp(`^${nodeName}/`));
    node.removePod(now);
  });
});
