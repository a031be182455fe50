// The kind provider, for users and CI with Docker: `kind create cluster` from e2e/kind, images
// built with `docker build` and copied to the nodes with `kind load docker-image`, charts
// installed with helm. kind, docker, kubectl and helm come from PATH (or $KIND, $DOCKER, $KUBECTL,
// $HELM). The cluster name is AMBIT_KIND_CLUSTER (default ambit-e2e); AMBIT_KIND_NODE_IMAGE picks
// the node image (kind's default otherwise).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterAccess, ClusterProvider, ImageSpec } from './cluster-provider.ts';
import { runCommand } from './run-command.ts';

const e2eDir = new URL('../..', import.meta.url).pathname;
const repoRoot = join(e2eDir, '..');

const tool = (name: string): string => process.env[name.toUpperCase()] ?? name;

export const kindTestImage: ImageSpec = {
  ref: 'localhost/ambit/node:24',
  dockerfile: 'e2e/kind/node.Dockerfile',
  context: 'e2e/kind',
};

export class KindProvider implements ClusterProvider {
  readonly name = 'kind';
  readonly cluster = process.env.AMBIT_KIND_CLUSTER ?? 'ambit-e2e';

  async up(): Promise<ClusterAccess> {
    const clusters = (await runCommand(tool('kind'), ['get', 'clusters'])).split('\n');
    if (!clusters.includes(this.cluster)) {
      const config = join(e2eDir, 'kind/kind-config.yaml');
      const create = [
        'create',
        'cluster',
        '--name',
        this.cluster,
        '--config',
        config,
        '--wait',
        '180s',
      ];
      const image = process.env.AMBIT_KIND_NODE_IMAGE;
      if (image) create.push('--image', image);
      await runCommand(tool('kind'), create, { showProgress: true });
    }
    const dir = join(tmpdir(), `ambit-kind-${this.cluster}`);
    mkdirSync(dir, { recursive: true });
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      await runCommand(tool('kind'), ['get', 'kubeconfig', '--name', this.cluster]),
      {
        mode: 0o600,
      },
    );
    await this.loadImage(kindTestImage);
    return {
      provider: 'kind',
      kubeconfig,
      kubectl: tool('kubectl'),
      helm: tool('helm'),
      testImage: kindTestImage.ref,
    };
  }

  async loadImage(image: ImageSpec): Promise<void> {
    await runCommand(
      tool('docker'),
      [
        'build',
        '-t',
        image.ref,
        '-f',
        join(repoRoot, image.dockerfile),
        join(repoRoot, image.context),
      ],
      { showProgress: true },
    );
    await runCommand(tool('kind'), ['load', 'docker-image', image.ref, '--name', this.cluster]);
  }

  /** images/Dockerfile, one target per component, tagged localhost/ambit/<c>:<appVersion>. */
  async loadAmbitImages(): Promise<void> {
    const chart = readFileSync(join(repoRoot, 'charts/ambit/Chart.yaml'), 'utf8');
    const version = /^appVersion:\s*'?([^'\s]+)'?/m.exec(chart)?.[1];
    if (!version) throw new Error('no appVersion in charts/ambit/Chart.yaml');
    for (const c of ['controller', 'ztunnel', 'node-agent', 'waypoint']) {
      const ref = `localhost/ambit/${c}:${version}`;
      await runCommand(
        tool('docker'),
        ['build', '-f', join(repoRoot, 'images/Dockerfile'), '--target', c, '-t', ref, repoRoot],
        { showProgress: true },
      );
      await runCommand(tool('kind'), ['load', 'docker-image', ref, '--name', this.cluster]);
    }
  }

  /** kind nodes have the chart's default host paths (docs/install.md). */
  meshValues(): Promise<Record<string, unknown>> {
    return Promise.resolve({ image: { registry: 'localhost/ambit', pullPolicy: 'Never' } });
  }

  /**
   * A kind node is a container named after the node. The node image has no tcpdump, so commands
   * run in a tools container that shares the node's network and PID namespaces (its /proc, to
   * enter pod netns), from AMBIT_KIND_TOOLS_IMAGE (default nicolaka/netshoot, which has tcpdump,
   * nft, nsenter and ip). Not exercised on this machine (no Docker).
   */
  nodeCommand(node: string, argv: readonly string[]): readonly string[] {
    const image = process.env.AMBIT_KIND_TOOLS_IMAGE ?? 'nicolaka/netshoot:v0.13';
    return [
      tool('docker'),
      'run',
      '--rm',
      '--privileged',
      '--network',
      `container:${node}`,
      '--pid',
      `container:${node}`,
      image,
      ...argv,
    ];
  }

  /** The tools container sees the node's root through the node's PID 1. */
  nodePath(path: string): string {
    return `/proc/1/root${path}`;
  }

  async down(): Promise<void> {
    await runCommand(tool('kind'), ['delete', 'cluster', '--name', this.cluster]);
  }
}
