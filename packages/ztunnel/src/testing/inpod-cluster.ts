// In-pod fixture (root): one or more "nodes", each a network namespace with a bridge (CniNode from
// packages/cni-plugin/src/testing), joined by a veth pair so that traffic between nodes crosses a
// real link; on each node a real node agent (CNI socket, nft rules, handoff) and a real ztunnel in
// in-pod mode, both in this process, sharing one pods file (agents) and one mesh file + local CA
// (ztunnels). Pods are made by Debian's CNI plugins and then ambit-cni, exactly as a runtime does.
// Used by the in-pod netns tests and by the root path of `make demo`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCaIssuer } from '@ambit/core/ca-service/local-ca-issuer';
import { createLogger } from '@ambit/core/log';
import { CniServer } from '@ambit/cni-plugin/agent/cni-server';
import { LocalPodSource } from '@ambit/cni-plugin/agent/local-pod-source';
import { NodeAgent } from '@ambit/cni-plugin/agent/node-agent';
import { CniNode, sh, type TestPod } from '@ambit/cni-plugin/testing/cni-node';
import { loadConfig } from '../config.ts';
import { LineSink } from '../telemetry/test-fixtures.ts';
import { Ztunnel } from '../ztunnel.ts';

export interface InpodNode {
  name: string;
  cni: CniNode;
  /** The node's address on the inter-node link. */
  linkIp: string;
  agent: NodeAgent;
  cniServer: CniServer;
  source: LocalPodSource;
  z: Ztunnel;
  /** ztunnel's log and access-log lines. */
  logs: LineSink;
}

export interface PodSpec {
  node: number;
  namespace: string;
  name: string;
  serviceAccount: string;
  labels?: Record<string, string>;
}

export interface ClusterPod extends TestPod {
  node: number;
  serviceAccount: string;
  ip: string;
  /** Its workload labels in the mesh file (default `{ app: <name> }`). */
  labels: Record<string, string>;
}

export interface ClusterOptions {
  nodes: number;
  ambient: string[];
  plain: string[];
  /** The mesh file's `mesh:` section (YAML flow map), e.g. `{ mtls: PERMISSIVE }`. */
  mesh?: string;
}

const AMBIENT = { 'ambit.dev/dataplane-mode': 'ambient' };

export class InpodCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'ambit-inpod-'));
  readonly podsFile = join(this.dir, 'pods.yaml');
  readonly meshFile = join(this.dir, 'mesh.yaml');
  readonly nodes: InpodNode[] = [];
  /** Namespaces and their labels, for the agents' pods file. */
  namespaces: { name: string; labels: Record<string, string> }[] = [];
  readonly pods: ClusterPod[] = [];
  #podSpecs: object[] = [];
  readonly #linkIf = `zl${Math.random().toString(36).slice(2, 8)}`;
  /** Every CniNode made, even one whose agent or ztunnel did not start (for cleanup). */
  readonly #cniNodes: CniNode[] = [];

  /** `ambient`: namespaces with the ambient label; `plain`: without. */
  static async create(opts: ClusterOptions): Promise<InpodCluster> {
    const c = new InpodCluster();
    await c.start(opts);
    return c;
  }

  /** Sets the nodes up; on failure everything made so far is removed again. */
  async start(opts: ClusterOptions): Promise<void> {
    try {
      this.namespaces = [
        ...opts.ambient.map((name) => ({ name, labels: AMBIENT })),
        ...opts.plain.map((name) => ({ name, labels: {} })),
      ];
      this.#meshSection = opts.mesh ?? '{ trustDomain: cluster.local }';
      await createLocalCaIssuer({ trustDomain: 'cluster.local', dir: join(this.dir, 'ca') });
      this.#writePods();
      this.#writeMeshFile();
      for (let i = 0; i < opts.nodes; i++) await this.#addNode(i);
      if (opts.nodes === 2) this.#link();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  #meshSection = '';
  #extraMesh = '';

  /** 10.<60+i>.0.0/24 for node i. */
  static subnetOctet(i: number): number {
    return 60 + i;
  }

  async #addNode(i: number): Promise<void> {
    const name = `node-${String.fromCharCode(97 + i)}`;
    const cni = new CniNode('/placeholder', InpodCluster.subnetOctet(i));
    this.#cniNodes.push(cni);
    const dir = cni.dir;
    cni.ambitConfig = { ...cni.ambitConfig, agentSocket: join(dir, 'cni.sock') };
    // The bridge exists once the first pod is added; forwarding is needed between nodes.
    sh('ip', ['netns', 'exec', cni.nodeNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const logs = new LineSink();
    const config = loadConfig(
      [
        '--config-file',
        this.meshFile,
        '--node-name',
        name,
        '--ca-dir',
        join(this.dir, 'ca'),
        '--admin-addr',
        '127.0.0.1:0',
        '--metrics-addr',
        '127.0.0.1:0',
        '--readiness-addr',
        '127.0.0.1:0',
        '--socks5-addr',
        'off',
        '--inpod-socket',
        join(dir, 'ztunnel.sock'),
        '--drain-deadline',
        '1s',
      ],
      {},
      this.dir,
    );
    if (config === 'help') throw new Error('unexpected help');
    const z = await Ztunnel.start({ config, logOut: logs, configPollIntervalMs: 0 });
    const source = new LocalPodSource(this.podsFile);
    await source.reload();
    const agent = new NodeAgent({
      node: name,
      source,
      stateFile: join(dir, 'agent-state.json'),
      ztunnel: { socketPath: join(dir, 'ztunnel.sock'), ackTimeoutMs: 5000 },
      probeSnat: { netns: cni.nodeNetns },
      logger: createLogger({ level: 'error', out: { write: () => true } }),
    });
    const cniServer = new CniServer({
      socketPath: join(dir, 'cni.sock'),
      handle: (r) => agent.handleCni(r),
    });
    const node: InpodNode = {
      name,
      cni,
      linkIp: `192.168.210.${i + 1}`,
      agent,
      cniServer,
      source,
      z,
      logs,
    };
    this.nodes.push(node);
    await cniServer.listen();
    await agent.start();
  }

  /** A veth pair between node-a and node-b, with routes to each other's pod subnet. */
  #link(): void {
    const [a, b] = this.nodes as [InpodNode, InpodNode];
    const ifA = `${this.#linkIf}a`;
    const ifB = `${this.#linkIf}b`;
    sh('ip', ['-n', a.cni.nodeNs, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
    sh('ip', ['-n', a.cni.nodeNs, 'link', 'set', ifB, 'netns', b.cni.nodeNs]);
    for (const [n, ifname, other] of [
      [a, ifA, b],
      [b, ifB, a],
    ] as const) {
      sh('ip', ['-n', n.cni.nodeNs, 'addr', 'add', `${n.linkIp}/24`, 'dev', ifname]);
      sh('ip', ['-n', n.cni.nodeNs, 'link', 'set', ifname, 'up']);
      sh('ip', ['-n', n.cni.nodeNs, 'route', 'add', other.cni.subnet, 'via', other.linkIp]);
    }
  }

  /** The inter-node link interface on node `i` (for captures). */
  linkInterface(i: number): string {
    return `${this.#linkIf}${i === 0 ? 'a' : 'b'}`;
  }

  #writePods(): void {
    const tmp = `${this.podsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ namespaces: this.namespaces, pods: this.#podSpecs }));
    renameSync(tmp, this.podsFile);
  }

  #writeMeshFile(): void {
    const workloads = this.pods
      .filter((p) => this.namespaces.find((n) => n.name === p.namespace)?.labels === AMBIENT)
      .map(
        (p) =>
          `  - { name: ${p.name}, namespace: ${p.namespace}, serviceAccount: ${p.serviceAccount}, uid: ${p.uid}, node: ${this.nodes[p.node]?.name ?? 'node-a'}, ip: ${p.ip}, labels: ${JSON.stringify(p.labels)} }`,
      );
    const yaml = [
      `mesh: ${this.#meshSection}`,
      workloads.length ? `workloads:\n${workloads.join('\n')}` : 'workloads: []',
      this.#extraMesh,
      '',
    ].join('\n');
    const tmp = `${this.meshFile}.tmp`;
    writeFileSync(tmp, yaml);
    renameSync(tmp, this.meshFile);
  }

  /** Tells the agents about pods (the pods file) before their CNI ADD. */
  async declarePods(specs: PodSpec[]): Promise<void> {
    for (const s of specs) {
      this.#podSpecs.push({
        name: s.name,
        namespace: s.namespace,
        uid: `uid-${s.name}`,
        serviceAccount: s.serviceAccount,
        labels: s.labels ?? {},
        annotations: {},
      });
    }
    this.#writePods();
    await Promise.all(this.nodes.map((n) => n.source.reload()));
  }

  /**
   * Creates the pod as a runtime does (loopback, bridge + host-local, then ambit-cni): an ambient
   * pod is captured when this resolves. Throws when ambit-cni fails.
   */
  async addPod(spec: PodSpec, tune?: (pod: TestPod) => void): Promise<ClusterPod> {
    const node = this.nodes[spec.node];
    if (!node) throw new Error(`no node ${spec.node}`);
    const pod = node.cni.newPod(spec.namespace, spec.name, `uid-${spec.name}`);
    tune?.(pod);
    const { ambit } = await node.cni.addPod(pod);
    if (ambit.code !== 0) throw new Error(`ambit-cni ADD failed: ${ambit.stdout}${ambit.stderr}`);
    if (pod.ip === undefined) throw new Error('the bridge plugin gave no IP');
    const p: ClusterPod = {
      ...pod,
      ip: pod.ip,
      node: spec.node,
      serviceAccount: spec.serviceAccount,
      labels: spec.labels ?? { app: spec.name },
    };
    this.pods.push(p);
    return p;
  }

  /**
   * Writes the mesh file for the pods made so far (plus `extraYaml`: services, policies) and has
   * every ztunnel apply it.
   */
  async publishMesh(extraYaml?: string): Promise<void> {
    if (extraYaml !== undefined) this.#extraMesh = extraYaml;
    this.#writeMeshFile();
    await Promise.all(this.nodes.map((n) => n.z.reload()));
  }

  /** The runtime's DEL and sandbox teardown. */
  async removePod(p: ClusterPod): Promise<void> {
    const node = this.nodes[p.node];
    if (!node) return;
    await node.cni.delPod(p);
    node.cni.removePod(p);
    this.pods.splice(this.pods.indexOf(p), 1);
  }

  /**
   * Stops agents and ztunnels, deletes every netns (pods, nodes: bridges and veths go with them),
   * including any made by an operation still in flight (found by this cluster's node ids).
   * Idempotent. Resolves with the number of netns removed.
   */
  async close(): Promise<number> {
    const nodes = this.nodes.splice(0);
    for (const n of nodes) {
      await n.cniServer.close().catch(() => undefined);
      await n.agent.close().catch(() => undefined);
      n.source.close();
      await n.z.shutdown(0).catch(() => undefined);
    }
    const ids = this.#cniNodes.map((c) => c.id);
    const ours = (): string[] =>
      sh('ip', ['netns', 'list'])
        .split('\n')
        .map((l) => l.split(' ')[0] ?? '')
        .filter((name) => ids.some((id) => name.includes(`-${id}`)));
    const before = ours().length;
    for (const c of this.#cniNodes.splice(0)) c.cleanup();
    for (const name of ours()) spawnSync('ip', ['netns', 'del', name]);
    rmSync(this.dir, { recursive: true, force: true });
    return before;
  }
}

/** Listening TCP ports inside a netns (`ss -Hltn`). */
export function listeningPorts(netns: string): number[] {
  const r = spawnSync('nsenter', [`--net=${netns}`, 'ss', '-Hltn'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /:(\d+)\s/.exec(l.split(/\s+/)[3] + ' ')?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
