// The chart's pre-delete hook (pre-delete.ts) against a real API server with the
// kube-controller-manager's garbage collector, as the hook Job runs it: with a ServiceAccount
// token whose only rights are the chart's hook Role (get/delete of the named DaemonSets). No
// kubelet: the DaemonSets select no node; a finalizer stands in for agents still stopping.
//
//   scripts/with-toolchain pnpm exec vitest run --config e2e/vitest.k8s.config.ts \
//     packages/cni-plugin/src/agent/pre-delete.k8s.test.ts

import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import {
  podlessDaemonSet,
  serviceAccountKubeConfig,
} from '../testing/service-account-kubeconfig.ts';
import { parsePreDeleteArgs, removeNodeAgents } from './pre-delete.ts';

const quiet = createLogger({ level: 'error', out: { write: () => true } });
const HOLD = 'ambit.dev/test-hold';

describe('the pre-delete hook (real API server, the hook Role only)', () => {
  const namespace = `pre-${process.pid}-${Date.now().toString(36)}`;
  const agents = ['ambit-node-agent', 'ambit-node-agent-group-a'];
  const other = 'ztunnel';
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let hookKc: KubeConfig;

  const createDaemonSet = (name: string, finalizers?: string[]): Promise<unknown> =>
    apps.createNamespacedDaemonSet({ namespace, body: podlessDaemonSet(name, finalizers) });
  const exists = (name: string): Promise<boolean> =>
    apps.readNamespacedDaemonSet({ name, namespace }).then(
      () => true,
      () => false,
    );
  const release = (name: string): Promise<unknown> =>
    apps.patchNamespacedDaemonSet(
      { name, namespace, body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

  beforeAll(async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(inject('ambitKubeconfig'));
    core = admin.makeApiClient(CoreV1Api);
    apps = admin.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The chart's hook rule (charts/ambit/templates/node-agent-pre-delete.yaml).
    hookKc = await serviceAccountKubeConfig(admin, namespace, 'ambit-pre-delete', [
      {
        apiGroups: ['apps'],
        resources: ['daemonsets'],
        resourceNames: agents,
        verbs: ['get', 'delete'],
      },
    ]);
  });

  afterAll(async () => {
    for (const name of [...agents, other]) await release(name).catch(() => undefined);
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('deletes the named agent DaemonSets in the foreground, waits until they are gone, leaves the rest', async () => {
    await createDaemonSet(agents[0]!);
    // The second one's "agents" take a while to stop: it stays, being deleted, until released.
    await createDaemonSet(agents[1]!, [HOLD]);
    await createDaemonSet(other);

    const run = removeNodeAgents({
      kubeConfig: hookKc,
      namespace,
      daemonSets: agents,
      timeoutMs: 60_000,
      pollMs: 200,
      logger: quiet,
    });
    // While the hook waits, the held one is being deleted (what its agents see at SIGTERM).
    let deleting = false;
    for (let i = 0; i < 100 && !deleting; i++) {
      const ds = await apps.readNamespacedDaemonSet({ name: agents[1]!, namespace });
      deleting = ds.metadata?.deletionTimestamp !== undefined;
      if (!deleting) await new Promise((r) => setTimeout(r, 100));
    }
    expect(deleting).toBe(true);
    await release(agents[1]!);

    const result = await run;
    expect(result.remaining).toEqual([]);
    expect(result.absent).toEqual([]);
    expect([...result.removed].sort()).toEqual([...agents].sort());
    expect(await exists(agents[0]!)).toBe(false);
    expect(await exists(agents[1]!)).toBe(false);
    expect(await exists(other)).toBe(true);
  });

  it('an agent DaemonSet already gone is reported absent; one that never goes is reported at the deadline, not thrown', async () => {
    await createDaemonSet(agents[1]!, [HOLD]);
    const result = await removeNodeAgents({
      kubeConfig: hookKc,
      namespace,
      daemonSets: agents,
      timeoutMs: 1_500,
      pollMs: 200,
      logger: quiet,
    });
    expect(result).toEqual({ removed: [], absent: [agents[0]], remaining: [agents[1]] });
    await release(agents[1]!);
  });

  it('a DaemonSet outside the Role is refused by the API (403) and the hook says so', async () => {
    await expect(
      removeNodeAgents({
        kubeConfig: hookKc,
        namespace,
        daemonSets: [other],
        timeoutMs: 1_000,
        logger: quiet,
      }),
    ).rejects.toMatchObject({ code: 403 });
    expect(await exists(other)).toBe(true);
  });

  it('parses its flags and refuses missing ones with a clear error', () => {
    expect(
      parsePreDeleteArgs([
        '--namespace=ambit-system',
        '--daemonset=ambit-node-agent',
        '--daemonset=ambit-node-agent-k3s',
        '--timeout-seconds=90',
      ]),
    ).toEqual({
      namespace: 'ambit-system',
      daemonSets: ['ambit-node-agent', 'ambit-node-agent-k3s'],
      timeoutMs: 90_000,
    });
    expect(() => parsePreDeleteArgs(['--daemonset=x'])).toThrow(/--namespace is required/);
    expect(() => parsePreDeleteArgs(['--namespace=n'])).toThrow(/--daemonset NAME is required/);
    expect(() =>
      parsePreDeleteArgs(['--namespace=n', '--daemonset=x', '--timeout-seconds=0']),
    ).toThrow(/1 to 3600/);
    expect(() => parsePreDeleteArgs(['--namespace=n', '--daemonset=x', '--bogus'])).toThrow(
      /AMBIT_CNI_AGENT_CONFIG|Unknown option/,
    );
  });
});
