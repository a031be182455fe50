// Scenario: Ambit installs with helm the way docs/install.md says, and comes up on every node.
// The install stays for the files after this one (mesh/90-uninstall removes it).
import { describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, MESH_NAMESPACE, podsOf } from './mesh-install.ts';
import { runInPod, workerNodes } from './workloads.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);

describe('helm install of Ambit', () => {
  it('rolls out the controller, and ztunnel and the node agent on every node, all Ready and synced', async () => {
    const result = await installMesh(access);
    console.error(
      `[e2e] mesh ${result.installed ? 'installed' : 'already installed'} in ${result.seconds}s`,
    );
    const nodes = await workerNodes(kubectl);
    expect(nodes.length).toBeGreaterThanOrEqual(2);

    const controllers = await podsOf(kubectl, 'ambit-controller');
    expect(controllers).toHaveLength(2);
    expect(controllers.every((p) => p.ready)).toBe(true);
    for (const component of ['ztunnel', 'ambit-node-agent']) {
      const pods = await podsOf(kubectl, component);
      expect(
        pods
          .filter((p) => p.ready)
          .map((p) => p.node)
          .sort(),
      ).toEqual(expect.arrayContaining(nodes));
    }
  }, 600_000);

  it('chains ambit-cni into the container runtime CNI config on every node', async () => {
    const agents = await podsOf(kubectl, 'ambit-node-agent');
    expect(agents.length).toBeGreaterThanOrEqual(2);
    for (const agent of agents) {
      // The agent mounts the node's CNI config dir at /host/cni/net.d.
      const seen = await runInPod<{ file: string; types: string[] }>(
        kubectl,
        MESH_NAMESPACE,
        agent.name,
        `import { readdirSync, readFileSync } from 'node:fs';
        const dir = '/host/cni/net.d';
        const file = readdirSync(dir).filter((f) => /\\.(conflist|conf|json)$/.test(f) && !f.startsWith('.')).sort()[0];
        const conf = JSON.parse(readFileSync(dir + '/' + file, 'utf8'));
        console.log(JSON.stringify({ file, types: (conf.plugins ?? []).map((p) => p.type) }));`,
      );
      expect(seen.types.at(-1), `${agent.node} ${seen.file}`).toBe('ambit-cni');
    }
  });
});
