// The node agent's watch of its own DaemonSet against a real API server (e2e/vitest.k8s.config.ts),
// as the agent runs in a cluster: with a ServiceAccount token whose only right is the chart's
// (get/list/watch of that one DaemonSet, by resourceNames). No kubelet: the DaemonSet selects no
// node, so it never makes pods; what matters is the object.
//
//   scripts/with-toolchain pnpm exec vitest run --config e2e/vitest.k8s.config.ts \
//     packages/cni-plugin/src/agent/own-daemonset.k8s.test.ts

import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import {
  podlessDaemonSet,
  serviceAccountKubeConfig,
} from '../testing/service-account-kubeconfig.ts';
import { waitFor } from '../testing/ztunnel-recorder.ts';
import { OwnDaemonSet } from './own-daemonset.ts';
import { decideShutdown } from './shutdown-decision.ts';

const quiet = createLogger({ level: 'error', out: { write: () => true } });

describe("the node agent's own DaemonSet (real API server, the agent's narrow RBAC)", () => {
  const namespace = `ods-${process.pid}-${Date.now().toString(36)}`;
  const name = 'ambit-node-agent';
  let admin: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let rbac: RbacAuthorizationV1Api;
  let agentKc: KubeConfig;
  const watches: OwnDaemonSet[] = [];

  const createDaemonSet = (finalizers?: string[]): Promise<unknown> =>
    apps.createNamespacedDaemonSet({ namespace, body: podlessDaemonSet(name, finalizers) });
  const deleteDaemonSet = (): Promise<unknown> =>
    apps.deleteNamespacedDaemonSet({ name, namespace }).catch(() => undefined);
  const gone = async (): Promise<boolean> =>
    apps.readNamespacedDaemonSet({ name, namespace }).then(
      () => false,
      () => true,
    );

  function watchAs(kc: KubeConfig): { ds: OwnDaemonSet; changes: boolean[] } {
    const changes: boolean[] = [];
    const ds = new OwnDaemonSet({
      kubeConfig: kc,
      namespace,
      name,
      logger: quiet,
      onChange: (_v, uninstalling) => changes.push(uninstalling),
    });
    watches.push(ds);
    return { ds, changes };
  }

  beforeAll(async () => {
    admin = new KubeConfig();
    admin.loadFromFile(inject('ambitKubeconfig'));
    core = admin.makeApiClient(CoreV1Api);
    apps = admin.makeApiClient(AppsV1Api);
    rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The chart's rule (charts/ambit/templates/node-agent-rbac.yaml).
    agentKc = await serviceAccountKubeConfig(admin, namespace, name, [
      {
        apiGroups: ['apps'],
        resources: ['daemonsets'],
        resourceNames: [name],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
  });

  afterAll(async () => {
    for (const w of watches) await w.close();
    await apps
      ?.patchNamespacedDaemonSet(
        { name, namespace, body: { metadata: { finalizers: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('a DaemonSet that stays means restart; deleted (the watch sees it) means uninstall', async () => {
    await createDaemonSet();
    const { ds, changes } = watchAs(agentKc);
    await ds.start();
    // The narrow rule is enough to list and watch it (fieldSelector metadata.name).
    await waitFor(() => ds.view === 'present');
    expect(ds.seen).toBe(true);
    expect(ds.uninstalling).toBe(false);
    const restart = decideShutdown(await ds.shutdownFacts());
    expect(restart).toMatchObject({ uninstall: false });
    expect(restart.reason).toMatch(/still there/);

    await deleteDaemonSet();
    await waitFor(() => ds.view === 'absent');
    expect(ds.uninstalling).toBe(true);
    expect(changes).toEqual([true]);
    const facts = await ds.shutdownFacts();
    expect(facts.probe).toEqual({ kind: 'not-found' });
    expect(decideShutdown(facts)).toMatchObject({ uninstall: true });

    // Recreated (an uninstall followed by an install): the watch follows, and it is a restart.
    await createDaemonSet();
    await waitFor(() => ds.view === 'present');
    expect(changes).toEqual([true, false]);
    expect(decideShutdown(await ds.shutdownFacts())).toMatchObject({ uninstall: false });
    await ds.close();
    await deleteDaemonSet();
  });

  it('a deletionTimestamp (foreground deletion, finalizers) counts as uninstall', async () => {
    await expectEventually(gone);
    await createDaemonSet(['ambit.dev/test-hold']);
    const { ds } = watchAs(agentKc);
    await ds.start();
    await waitFor(() => ds.view === 'present');
    await apps.deleteNamespacedDaemonSet({ name, namespace, propagationPolicy: 'Foreground' });
    await waitFor(() => ds.view === 'deleting');
    expect(ds.uninstalling).toBe(true);
    const facts = await ds.shutdownFacts();
    expect(facts.probe).toEqual({ kind: 'present', deleting: true });
    expect(decideShutdown(facts)).toMatchObject({ uninstall: true });
    await apps.patchNamespacedDaemonSet(
      { name, namespace, body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(() => ds.view === 'absent');
    await ds.close();
  });

  it('403 (RBAC gone) and then 401 (ServiceAccount gone) count as uninstall for an agent that could read it', async () => {
    await expectEventually(gone);
    await createDaemonSet();
    const { ds } = watchAs(agentKc);
    await ds.start();
    await waitFor(() => ds.view === 'present');
    await ds.close(); // the watch would otherwise see the DaemonSet still there
    await rbac.deleteNamespacedRoleBinding({ name, namespace });
    const forbidden = await eventually(
      () => ds.probe(),
      (p) => p.kind === 'refused',
    );
    expect(forbidden).toEqual({ kind: 'refused', status: 403 });
    const plan = decideShutdown({
      daemonSet: ds.id,
      watched: ds.view,
      seen: ds.seen,
      probe: forbidden,
    });
    expect(plan.uninstall).toBe(true);
    expect(plan.reason).toMatch(/\(403\): the release's RBAC or ServiceAccount is gone/);

    await core.deleteNamespacedServiceAccount({ name, namespace });
    const unauthorized = await eventually(
      () => ds.probe(),
      (p) => p.kind === 'refused' && p.status === 401,
    );
    expect(unauthorized).toEqual({ kind: 'refused', status: 401 });

    // The same answers for an agent that never could read its DaemonSet: taken for a restart.
    const { ds: blind } = watchAs(agentKc);
    await blind.start();
    expect(blind.seen).toBe(false);
    expect(decideShutdown(await blind.shutdownFacts())).toMatchObject({ uninstall: false });
    await blind.close();
  });
});

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectEventually(cond: () => Promise<boolean>): Promise<void> {
  expect(await eventually(cond, (v) => v)).toBe(true);
}
