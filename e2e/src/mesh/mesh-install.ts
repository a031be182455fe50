// The mesh install fixture: Ambit from this checkout installed with helm on the e2e cluster, the
// way a user installs it. One function, idempotent, for every mesh scenario file (and whoever adds
// more): `await installMesh(access)` in a beforeAll. The release stays installed between files;
// e2e/src/mesh/90-uninstall.e2e.test.ts removes it last.
import { isDeepStrictEqual } from 'node:util';
import type { ClusterAccess, ClusterProvider } from '../providers/cluster-provider.ts';
import { helmUpgradeInstall } from '../providers/helm-install.ts';
import { runCommand } from '../providers/run-command.ts';
import { selectProvider } from '../providers/select-provider.ts';
import { kubectlFor, type Kubectl } from '../kubectl.ts';

export const MESH_NAMESPACE = 'ambit-system';
export const MESH_RELEASE = 'ambit';

export interface MeshInstallOptions {
  /**
   * Values on top of the provider's (`meshValues`), e.g. `{ ca: { workloadCertTtl: '60s' } }`.
   * The install is redone (helm upgrade) whenever the release's values differ from the wanted ones,
   * so a file that wants the defaults back calls installMesh without them.
   */
  values?: Record<string, unknown>;
  /** Rebuild and reload the images and upgrade even when the release already matches. */
  force?: boolean;
}

export interface MeshInstall {
  /** True when this call ran helm (false: the release was already there with these values). */
  installed: boolean;
  /** Seconds the call took. */
  seconds: number;
}

/** The provider that made this cluster (tests run in their own processes). */
export function providerFor(access: ClusterAccess): ClusterProvider {
  return selectProvider(access.provider);
}

/** The release's values as helm recorded them, or undefined when it is not deployed. */
async function deployedValues(
  access: ClusterAccess,
  kubectl: Kubectl,
): Promise<Record<string, unknown> | undefined> {
  const secrets = await kubectl(
    '-n',
    MESH_NAMESPACE,
    'get',
    'secrets',
    '-l',
    `owner=helm,name=${MESH_RELEASE},status=deployed`,
    '-o',
    'name',
  ).catch(() => '');
  if (secrets.trim() === '') return undefined;
  const out = await runCommand(access.helm, [
    'get',
    'values',
    MESH_RELEASE,
    '-n',
    MESH_NAMESPACE,
    '-o',
    'json',
    '--kubeconfig',
    access.kubeconfig,
  ]);
  return (JSON.parse(out) ?? {}) as Record<string, unknown>;
}

/** Deep merge of plain objects (later wins; lists are replaced), as helm merges values. */
export function mergeValues(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeValues(b, v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Installs (or upgrades to) Ambit from this checkout: the provider builds and loads the images
 * (only when the release is not deployed yet, or with `force`), helm upgrade --install with the
 * provider's values plus `options.values`, then waits until the controller Deployment and every
 * DaemonSet rolled out, every pod in ambit-system is Ready and every node agent logged `ztunnel
 * synced`. Does nothing but the checks when the release is already deployed with these values.
 */
export async function installMesh(
  access: ClusterAccess,
  options: MeshInstallOptions = {},
): Promise<MeshInstall> {
  const started = performance.now();
  const provider = providerFor(access);
  const kubectl = kubectlFor(access);
  const wanted = mergeValues(await provider.meshValues(access), options.values ?? {});
  const current = await deployedValues(access, kubectl);
  const upToDate = current !== undefined && isDeepStrictEqual(current, wanted);
  if (!upToDate || options.force) {
    if (current === undefined || options.force) await provider.loadAmbitImages();
    await helmUpgradeInstall(
      access,
      MESH_RELEASE,
      'charts/ambit',
      MESH_NAMESPACE,
      {},
      {
        valuesObject: wanted,
      },
    );
  }
  await waitForMesh(kubectl);
  return { installed: !upToDate || options.force === true, seconds: elapsed(started) };
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}

/** Rolled out, Ready, and every node agent connected to its ztunnel. */
export async function waitForMesh(kubectl: Kubectl, timeoutSeconds = 180): Promise<void> {
  const ns = ['-n', MESH_NAMESPACE];
  const timeout = `--timeout=${timeoutSeconds}s`;
  await kubectl(...ns, 'rollout', 'status', 'deployment/ambit-controller', timeout);
  const daemonSets = (await kubectl(...ns, 'get', 'daemonsets', '-o', 'name'))
    .split('\n')
    .filter(Boolean);
  if (daemonSets.length === 0) throw new Error('no DaemonSets in ambit-system');
  for (const ds of daemonSets) await kubectl(...ns, 'rollout', 'status', ds, timeout);
  // Every pod Ready, ignoring those on their way out: right after a rollout the old ReplicaSet's
  // pods are still terminating (`kubectl wait --all` fails on one that goes while it waits).
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const notReady = (await podsOf(kubectl)).filter((p) => !p.ready).map((p) => p.name);
    if (notReady.length === 0) break;
    if (Date.now() > deadline)
      throw new Error(`ambit-system pods not Ready: ${notReady.join(', ')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const agents = await podsOf(kubectl, 'ambit-node-agent');
  for (const agent of agents) {
    for (;;) {
      const logs = await kubectl(...ns, 'logs', agent.name).catch(() => '');
      if (logs.includes('ztunnel synced')) break;
      if (Date.now() > deadline) throw new Error(`${agent.name} never logged "ztunnel synced"`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export interface MeshPod {
  name: string;
  node: string;
  ready: boolean;
}

/**
 * The pods of a mesh component (`ztunnel`, `ambit-node-agent`, `ambit-controller`), or all pods
 * in ambit-system; not those being deleted.
 */
export async function podsOf(kubectl: Kubectl, component?: string): Promise<MeshPod[]> {
  const selector = component === undefined ? [] : ['-l', `app.kubernetes.io/name=${component}`];
  const out = await kubectl('-n', MESH_NAMESPACE, 'get', 'pods', ...selector, '-o', 'json');
  const list = JSON.parse(out) as {
    items: {
      metadata: { name: string; deletionTimestamp?: string };
      spec: { nodeName?: string };
      status: { conditions?: { type: string; status: string }[] };
    }[];
  };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? '',
      ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    }));
}

/** The pod of a per-node component (`ztunnel`, `ambit-node-agent`) on a node. */
export async function podOnNode(
  kubectl: Kubectl,
  component: string,
  node: string,
): Promise<string> {
  const pod = (await podsOf(kubectl, component)).find((p) => p.node === node);
  if (!pod) throw new Error(`no ${component} pod on ${node}`);
  return pod.name;
}
