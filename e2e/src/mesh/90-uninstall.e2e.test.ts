// Scenario (last of the suite): `helm uninstall` of a mesh in use (an ambient namespace with pods
// on two nodes, a Waypoint, policies). What docs/install.md "Uninstalling" promises: workloads keep
// running and reachable, the node agents remove ambit-cni from every node's CNI config and release
// every pod (no `inet ambit` table in their netns, no `inet ambit-node` on the node, no enrolled
// annotation), the CRDs go and with them every Waypoint, policy and the Waypoint's Deployment, and
// nothing of the release is left; only what that page lists as kept stays (the CA Secret, the
// Lease, the ambit-root-cert ConfigMaps). A pod created afterwards starts plain.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectlFor } from '../kubectl.ts';
import { runCommand } from '../providers/run-command.ts';
import { installMesh, MESH_NAMESPACE, MESH_RELEASE, providerFor } from './mesh-install.ts';
import { nodeExec, podNetnsRuleset } from './node-tools.ts';
import {
  clientAndServer,
  deployClient,
  podFacts,
  request,
  requestUntil,
  sleep,
  uniqueName,
} from './workloads.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const provider = providerFor(access);
const ns = uniqueName('uninstall');
const url = `http://echo.${ns}.svc.cluster.local/`;
let node1 = '';
let node2 = '';
let server = '';
let meshValues: Record<string, unknown> = {};

/** The node's CNI config dir as the chart was given it (a nodeGroups entry, or hostPaths). */
function cniDirs(node: string): { conf: string; bin: string } {
  const groups = (meshValues.nodeGroups ?? []) as {
    nodeLabel: { values: string[] };
    hostPaths: { cniConfDir?: string; cniBinDir?: string };
  }[];
  const paths = groups.find((g) => g.nodeLabel.values.includes(node))?.hostPaths ?? {};
  return { conf: paths.cniConfDir ?? '/etc/cni/net.d', bin: paths.cniBinDir ?? '/opt/cni/bin' };
}

async function names(...args: string[]): Promise<string[]> {
  return (await kubectl('get', ...args, '-o', 'name')).split('\n').filter(Boolean);
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  seconds = 120,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`${what}: still ${JSON.stringify(v)} after ${seconds}s`);
    await sleep(1000);
  }
}

describe('helm uninstall', () => {
  beforeAll(async () => {
    await installMesh(access);
    meshValues = await provider.meshValues(access);
    ({ node1, node2, server } = await clientAndServer(kubectl, access, ns, url));
    await apply(kubectl, [
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'Waypoint',
        metadata: { name: 'waypoint', namespace: ns },
        spec: { for: 'service' },
      },
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-nobody', namespace: ns },
        spec: {
          action: 'DENY',
          rules: [{ from: [{ source: { principals: ['cluster.local/ns/nowhere/sa/none'] } }] }],
        },
      },
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'PeerAuthentication',
        metadata: { name: 'default', namespace: ns },
        spec: { mtls: { mode: 'PERMISSIVE' } },
      },
    ]);
    // The controller made the Waypoint's Deployment.
    await until(
      'waypoint Deployment',
      () => names('-n', ns, 'deployments'),
      (d) => d.length === 2,
    );
    expect((await requestUntil(kubectl, ns, 'client', url, 'ok')).ok).toBe(true);
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('completes, and the workloads keep running and reachable', async () => {
    const before = await Promise.all(['client', server].map((p) => podFacts(kubectl, ns, p)));
    // Follow the node agents' logs through their shutdown (printed: what they did on uninstall).
    const agents = await names(
      '-n',
      MESH_NAMESPACE,
      'pods',
      '-l',
      'app.kubernetes.io/name=ambit-node-agent',
    );
    const follows = agents.map((pod) => {
      const [file, ...args] = [
        access.kubectl,
        '--kubeconfig',
        access.kubeconfig,
        '-n',
        MESH_NAMESPACE,
        'logs',
        '-f',
        '--tail=0',
        pod,
      ];
      const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      return { pod, child, out: () => out };
    });
    await runCommand(access.helm, [
      'uninstall',
      MESH_RELEASE,
      '-n',
      MESH_NAMESPACE,
      '--wait',
      '--timeout',
      '5m',
      '--kubeconfig',
      access.kubeconfig,
    ]);
    // The agents release pods while they stop (grace period up to 60 s); ztunnel drains.
    await until(
      'ambit-system pods',
      () => names('-n', MESH_NAMESPACE, 'pods'),
      (p) => p.length === 0,
      150,
    );
    for (const f of follows) {
      f.child.kill();
      console.error(`[e2e] ${f.pod} during the uninstall:\n${f.out().trim()}`);
    }
    const after = await Promise.all(['client', server].map((p) => podFacts(kubectl, ns, p)));
    expect(after.map((p) => [p.name, p.ip])).toEqual(before.map((p) => [p.name, p.ip]));
    expect((await requestUntil(kubectl, ns, 'client', url, 'ok')).ok).toBe(true);
    for (let i = 0; i < 3; i++) expect((await request(kubectl, ns, 'client', url)).ok).toBe(true);
  }, 400_000);

  it('leaves no ambit-cni in any node CNI config, and no ambit-cni binary', async () => {
    for (const node of [node1, node2]) {
      const { conf, bin } = cniDirs(node);
      const configs = await nodeExec(provider, node, [
        'sh',
        '-c',
        `cat ${provider.nodePath(conf)}/*`,
      ]);
      expect(configs, node).not.toContain('ambit-cni');
      expect(await nodeExec(provider, node, ['ls', provider.nodePath(bin)]), node).not.toMatch(
        /^ambit-cni$/m,
      );
    }
  });

  it('releases every pod: no nft ambit table in the pods or on the nodes', async () => {
    for (const pod of ['client', server]) {
      const facts = await podFacts(kubectl, ns, pod);
      const ruleset = await podNetnsRuleset(provider, facts.node, facts.ip);
      expect(ruleset, pod).not.toContain('table inet ambit');
    }
    for (const node of [node1, node2]) {
      expect(await nodeExec(provider, node, ['nft', 'list', 'tables']), node).not.toContain(
        'ambit',
      );
    }
  });

  // Not only tidiness: the controller sends a pod as HBONE while it carries the annotation, so
  // after a reinstall mesh clients reach a pod left annotated with ECONNRESET (seen on the local
  // cluster) until the pod restarts or the annotation is removed by hand.
  it('removes the enrolled annotation from every pod it had enrolled', async () => {
    for (const pod of ['client', server]) {
      expect((await podFacts(kubectl, ns, pod)).annotations, pod).not.toHaveProperty([
        'ambit.dev/enrolled',
      ]);
    }
  });

  it('removes the CRDs, the Waypoint and policies, the Waypoint Deployment, and every release object', async () => {
    expect((await names('crd')).filter((c) => c.endsWith('.ambit.dev'))).toEqual([]);
    await until(
      'Deployments in the namespace',
      () => names('-n', ns, 'deployments'),
      (d) => d.length === 1,
    );
    expect(await names('-n', ns, 'deployments')).toEqual(['deployment.apps/echo']);
    expect(
      await names(
        '-n',
        ns,
        'serviceaccounts',
        '-l',
        'app.kubernetes.io/managed-by=ambit-controller',
      ),
    ).toEqual([]);
    const kinds =
      'deployments,daemonsets,services,configmaps,serviceaccounts,roles,rolebindings,poddisruptionbudgets';
    expect(await names(kinds, '-A', '-l', `app.kubernetes.io/instance=${MESH_RELEASE}`)).toEqual(
      [],
    );
    const cluster =
      'clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings';
    expect(await names(cluster, '-l', `app.kubernetes.io/instance=${MESH_RELEASE}`)).toEqual([]);
    // By name too (labels can be edited): the chart's objects are ambit-controller, ambit-node-agent.
    expect((await names(cluster)).filter((n) => /\/ambit-(controller|node-agent)/.test(n))).toEqual(
      [],
    );
    // What the docs say stays: the CA root Secret and the Lease (made by the controller).
    expect(await names('-n', MESH_NAMESPACE, 'secrets', 'ambit-ca')).toEqual(['secret/ambit-ca']);
  });

  it('a pod created afterwards in the still-labelled namespace starts and talks plain', async () => {
    await deployClient(kubectl, access, ns, 'after', node1);
    const res = await requestUntil(kubectl, ns, 'after', url, 'ok');
    expect(res.ok).toBe(true);
    expect((await podFacts(kubectl, ns, 'after')).annotations).not.toHaveProperty([
      'ambit.dev/enrolled',
    ]);
  }, 240_000);
});
