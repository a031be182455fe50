// The local provider: the cluster e2e/scripts/cluster.sh builds and runs on this machine (a
// control plane as processes, nodes in network namespaces with containerd and the real kubelet).
// Needs root and Go; the first run builds the binaries (tens of minutes), later runs reuse them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterAccess, ClusterProvider, ImageSpec } from './cluster-provider.ts';
import { runCommand } from './run-command.ts';

const e2eDir = new URL('../..', import.meta.url).pathname;
const repoRoot = join(e2eDir, '..');
const script = (name: string): string => join(e2eDir, 'scripts', name);
/** The cluster's state directory (e2e/scripts/lib.sh). */
const stateDir = process.env.AMBIT_E2E_DIR ?? '/tmp/ambit-e2e';

function parseEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

export class LocalProvider implements ClusterProvider {
  readonly name = 'local';

  async up(): Promise<ClusterAccess> {
    if (process.getuid?.() !== 0) {
      throw new Error('the local e2e cluster needs root (network namespaces, mounts, cgroups)');
    }
    await runCommand(script('cluster.sh'), ['up'], { showProgress: true });
    const env = parseEnv(await runCommand(script('cluster.sh'), ['env']));
    const images = await runCommand(script('images.sh'), []);
    const testImage = images
      .split('\n')
      .find((l) => l.includes('/node:'))
      ?.split(' ')[0];
    const kubeconfig = env.get('KUBECONFIG');
    const kubectl = env.get('KUBECTL');
    const helm = env.get('HELM');
    if (!kubeconfig || !kubectl || !helm || !testImage) {
      throw new Error(`cluster.sh env gave an incomplete answer: ${JSON.stringify([...env])}`);
    }
    return { provider: 'local', kubeconfig, kubectl, helm, testImage };
  }

  /** Builds with e2e/scripts/images.sh-style local tooling: `image.localBuild` prints an OCI archive. */
  async loadImage(image: ImageSpec): Promise<void> {
    if (!image.localBuild) {
      throw new Error(
        `image ${image.ref}: the local provider has no Docker; give it a localBuild script`,
      );
    }
    const archive = (
      await runCommand(join(repoRoot, image.localBuild), [], { showProgress: true })
    ).trim();
    await runCommand(script('nodes.sh'), ['import', image.ref, archive]);
  }

  /** images/build-local.sh --import (umoci, no Docker): localhost/ambit/<component>:<appVersion>. */
  async loadAmbitImages(): Promise<void> {
    await runCommand('bash', [join(repoRoot, 'images/build-local.sh'), '--import']);
  }

  /**
   * The nodes share this machine's filesystem, so each gets its own DaemonSets (a nodeGroups
   * entry) with its own CNI dirs, run dir, state dir and containerd's pod netns dir (the node's
   * containerd keeps netns under its state dir: netns_mounts_under_state_dir).
   */
  meshValues(): Promise<Record<string, unknown>> {
    return Promise.resolve(localMeshValues());
  }

  /** Node e2e-node-N is the network namespace ambit-e2e-node-N. */
  nodeCommand(node: string, argv: readonly string[]): readonly string[] {
    return ['ip', 'netns', 'exec', `ambit-${node}`, ...argv];
  }

  /** The nodes share this machine's filesystem. */
  nodePath(path: string): string {
    return path;
  }

  async down(): Promise<void> {
    await runCommand(script('cluster.sh'), ['down'], { showProgress: true });
  }
}

function localMeshValues(): Record<string, unknown> {
  const nodes = readdirSync(join(stateDir, 'nodes'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith('e2e-node-'))
    .map((d) => d.name)
    .sort();
  if (nodes.length === 0) throw new Error(`no local cluster nodes under ${stateDir}/nodes`);
  return {
    image: { registry: 'localhost/ambit', pullPolicy: 'Never' },
    nodeGroups: nodes.map((node) => {
      const dir = join(stateDir, 'nodes', node);
      return {
        name: node.replace(/^e2e-/, ''),
        nodeLabel: { key: 'kubernetes.io/hostname', values: [node] },
        hostPaths: {
          cniConfDir: `${dir}/cni/net.d`,
          cniBinDir: `${dir}/cni/bin`,
          runDir: `${dir}/ambit/run`,
          netnsDir: `${dir}/containerd/state/io.containerd.grpc.v1.cri/netns`,
          stateDir: `${dir}/ambit/state`,
        },
      };
    }),
  };
}
