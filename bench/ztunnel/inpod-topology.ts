// Topology B (issue 4, root): the kernel path. Two "nodes" (network namespaces with a bridge, joined
// by a veth pair), pods made by Debian's CNI plugins and then ambit-cni exactly as a runtime makes
// them, a node agent per node (in this process: idle while measuring) and a ztunnel per node in
// in-pod mode as its own process (build/ztunnel.mjs --inpod-socket).
//   direct   plain-client pod ─veth─ bridge a ─ link ─ bridge b ─veth─▶ plain-server pod
//   ztunnel  mesh-client pod ─nft REDIRECT─▶ ztunnel a :15001 (in the pod netns)
//            ══ HBONE from the pod's netns, same veths and link ══▶ ztunnel b :15008 (in the server
//            pod netns) ─▶ server app
// The load tools (fortio, wrk, iperf3: native, no proxy settings) run inside the client pod's
// netns with `ip netns exec`; the backends (fortio server, iperf3 -s) inside the server pod's.
// ip_local_port_range is widened to 1024–65000 inside every pod netns (TIME_WAIT otherwise
// exhausts ports near 500 new connections/s per destination: DESIGN.md).
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniServer } from '../../packages/cni-plugin/src/agent/cni-server.ts';
import { LocalPodSource } from '../../packages/cni-plugin/src/agent/local-pod-source.ts';
import { NodeAgent } from '../../packages/cni-plugin/src/agent/node-agent.ts';
import {
  CNI_BIN_DIR,
  CniNode,
  sh,
  type TestPod,
} from '../../packages/cni-plugin/src/testing/cni-node.ts';
import { createLocalCaIssuer } from '../../packages/core/src/ca-service/local-ca-issuer.ts';
import { createLogger } from '../../packages/core/src/log.ts';
import type { ProcessGroup, Started } from '../hbone/processes.ts';
import { commandFor } from './load.ts';
import type { BenchPath, BenchTopology } from './topology.ts';
import { counter, startZtunnel, type ZtunnelProcess } from './ztunnel-process.ts';

const HTTP_PORT = 8080;
const IPERF_PORT = 5201;
const SINK_PORT = 9000;
const PORT_RANGE = '1024 65000';
const AMBIENT = { 'ambit.dev/dataplane-mode': 'ambient' };
const SEA = join(import.meta.dirname, '../../packages/cni-plugin/build/ambit-cni');

interface BenchNode {
  name: string;
  cni: CniNode;
  linkIp: string;
  z: ZtunnelProcess;
  agent: NodeAgent;
  cniServer: CniServer;
  source: LocalPodSource;
}

interface Pod extends TestPod {
  ip: string;
}

/** Resolves once `host:port` accepts a TCP connection from inside `netns` (bash /dev/tcp). */
async function acceptsInNetns(
  netns: string,
  host: string,
  port: number,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', netns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`],
      {
        timeout: 3000,
      },
    );
    if (r.status === 0) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} not reachable from ${netns}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function inpodTopology(o: {
  group: ProcessGroup;
  dir: string;
  node: string;
  ztunnel: string;
  here: string;
  enrolPods: number;
  /** Filled with the ambit-cni ADD durations (ms) of the enrolment run. */
  enrolment: number[];
  log: (msg: string) => void;
}): Promise<BenchTopology> {
  for (const t of ['ip', 'nft', 'nsenter', join(CNI_BIN_DIR, 'bridge')]) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
      throw new Error(`${t} is missing: run scripts/install-test-deps.sh`);
  }
  const caDir = join(o.dir, 'ca');
  const meshFile = join(o.dir, 'mesh.yaml');
  const podsFile = join(o.dir, 'pods.yaml');
  const nodes: BenchNode[] = [];
  const cniNodes: CniNode[] = [];
  const linkIf = `zb${Math.random().toString(36).slice(2, 8)}`;
  // Network namespaces are not processes: remove them even on Ctrl-C (ProcessGroup exits the process).
  let cleaned = false;
  const cleanupNetns = (): void => {
    if (cleaned) return;
    cleaned = true;
    for (const c of cniNodes) c.cleanup();
  };
  process.on('exit', cleanupNetns);

  const declared: object[] = [];
  const writeAtomic = (file: string, text: string): void => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const namespaces = [
    { name: 'bench-mesh', labels: AMBIENT },
    { name: 'bench-plain', labels: {} },
  ];
  const declare = async (
    names: { namespace: string; name: string; sa: string }[],
  ): Promise<void> => {
    for (const p of names)
      declared.push({
        name: p.name,
        namespace: p.namespace,
        uid: `uid-${p.name}`,
        serviceAccount: p.sa,
        labels: {},
        annotations: {},
      });
    writeAtomic(podsFile, JSON.stringify({ namespaces, pods: declared }));
    await Promise.all(nodes.map((n) => n.source.reload()));
  };

  try {
    await createLocalCaIssuer({ trustDomain: 'cluster.local', dir: caDir });
    writeAtomic(meshFile, 'mesh: { trustDomain: cluster.local }\nworkloads: []\n');
    writeAtomic(podsFile, JSON.stringify({ namespaces, pods: [] }));

    for (let i = 0; i < 2; i++) {
      const name = `node-${String.fromCharCode(97 + i)}`;
      const cni = new CniNode('/placeholder', 70 + i);
      cniNodes.push(cni);
      cni.ambitConfig = { ...cni.ambitConfig, agentSocket: join(cni.dir, 'cni.sock') };
      if (existsSync(SEA)) cni.pluginCommand = [SEA];
      sh('ip', ['netns', 'exec', cni.nodeNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const z = await startZtunnel({
        group: o.group,
        dir: o.dir,
        name: `ztunnel-${name}`,
        node: o.node,
        script: o.ztunnel,
        args: [
          '--config-file',
          meshFile,
          '--ca-dir',
          caDir,
          '--node-name',
          name,
          '--socks5-addr',
          'off',
          '--inpod-socket',
          join(cni.dir, 'ztunnel.sock'),
        ],
      });
      const source = new LocalPodSource(podsFile);
      await source.reload();
      const agent = new NodeAgent({
        node: name,
        source,
        stateFile: join(cni.dir, 'agent-state.json'),
        ztunnel: { socketPath: join(cni.dir, 'ztunnel.sock'), ackTimeoutMs: 5000 },
        probeSnat: { netns: cni.nodeNetns },
        logger: createLogger({ level: 'error', out: { write: () => true } }),
      });
      const cniServer = new CniServer({
        socketPath: join(cni.dir, 'cni.sock'),
        handle: (r) => agent.handleCni(r),
      });
      nodes.push({ name, cni, linkIp: `192.168.211.${i + 1}`, z, agent, cniServer, source });
      await cniServer.listen();
      await agent.start();
    }
    const [a, b] = nodes as [BenchNode, BenchNode];
    sh('ip', [
      '-n',
      a.cni.nodeNs,
      'link',
      'add',
      `${linkIf}a`,
      'type',
      'veth',
      'peer',
      'name',
      `${linkIf}b`,
    ]);
    sh('ip', ['-n', a.cni.nodeNs, 'link', 'set', `${linkIf}b`, 'netns', b.cni.nodeNs]);
    for (const [n, ifname, other] of [
      [a, `${linkIf}a`, b],
      [b, `${linkIf}b`, a],
    ] as const) {
      sh('ip', ['-n', n.cni.nodeNs, 'addr', 'add', `${n.linkIp}/24`, 'dev', ifname]);
      sh('ip', ['-n', n.cni.nodeNs, 'link', 'set', ifname, 'up']);
      sh('ip', ['-n', n.cni.nodeNs, 'route', 'add', other.cni.subnet, 'via', other.linkIp]);
    }

    // Pod enrolment latency: ambient pods on node-a, one after another, each removed again.
    const bridgeConf = (cni: CniNode): string =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'ambit-test',
        type: 'bridge',
        bridge: cni.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          subnet: cni.subnet,
          dataDir: join(cni.dir, 'ipam'),
          routes: [{ dst: '0.0.0.0/0' }],
        },
      });
    const enrolNames = Array.from({ length: o.enrolPods }, (_, i) => ({
      namespace: 'bench-mesh',
      name: `enrol-${i}`,
      sa: 'enrol',
    }));
    await declare(enrolNames);
    for (const e of enrolNames) {
      const pod = a.cni.newPod(e.namespace, e.name, `uid-${e.name}`);
      const lo = await a.cni.runPlugin(
        [join(CNI_BIN_DIR, 'loopback')],
        a.cni.cniEnv('ADD', pod, 'lo'),
        JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
      );
      const br = await a.cni.runPlugin(
        [join(CNI_BIN_DIR, 'bridge')],
        a.cni.cniEnv('ADD', pod),
        bridgeConf(a.cni),
      );
      if (lo.code !== 0 || br.code !== 0)
        throw new Error(`CNI ADD failed: ${lo.stdout}${br.stdout}${br.stderr}`);
      const t0 = process.hrtime.bigint();
      const r = await a.cni.runAmbit('ADD', pod, br.json);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.code !== 0) throw new Error(`ambit-cni ADD failed: ${r.stdout}${r.stderr}`);
      o.enrolment.push(ms);
      await a.cni.delPod(pod);
      a.cni.removePod(pod);
    }
    o.log(
      `enrolled and released ${o.enrolPods} pods (${existsSync(SEA) ? 'ambit-cni single executable' : 'ambit-cni as node + main.ts'})`,
    );

    // The four measurement pods.
    const specs = [
      { namespace: 'bench-mesh', name: 'mesh-client', sa: 'client', node: a },
      { namespace: 'bench-mesh', name: 'mesh-server', sa: 'server', node: b },
      { namespace: 'bench-plain', name: 'plain-client', sa: 'client', node: a },
      { namespace: 'bench-plain', name: 'plain-server', sa: 'server', node: b },
    ];
    await declare(specs);
    const pods = new Map<string, Pod>();
    for (const s of specs) {
      const pod = s.node.cni.newPod(s.namespace, s.name, `uid-${s.name}`);
      const { ambit } = await s.node.cni.addPod(pod);
      if (ambit.code !== 0 || pod.ip === undefined)
        throw new Error(`pod ${s.name}: ${ambit.stdout}${ambit.stderr}`);
      sh('ip', [
        'netns',
        'exec',
        pod.netnsName,
        'sysctl',
        '-qw',
        `net.ipv4.ip_local_port_range=${PORT_RANGE}`,
      ]);
      pods.set(s.name, { ...pod, ip: pod.ip });
    }
    const pod = (n: string): Pod => {
      const p = pods.get(n);
      if (!p) throw new Error(`no pod ${n}`);
      return p;
    };
    writeAtomic(
      meshFile,
      `mesh: { trustDomain: cluster.local, mtls: PERMISSIVE }
nodes: [{ name: node-a }, { name: node-b }]
workloads:
${specs
  .filter((s) => s.namespace === 'bench-mesh')
  .map(
    (s) =>
      `  - { name: ${s.name}, namespace: ${s.namespace}, serviceAccount: ${s.sa}, uid: uid-${s.name}, node: ${s.node.name}, ip: ${pod(s.name).ip}, labels: { app: ${s.name} } }`,
  )
  .join('\n')}
`,
    );

    // Backends in the server pods.
    for (const server of ['mesh-server', 'plain-server']) {
      const p = pod(server);
      const [f, fa] = commandFor({ netns: p.netnsName }, 'fortio', [
        'server',
        '-http-port',
        `0.0.0.0:${HTTP_PORT}`,
        '-grpc-port',
        'disabled',
        '-redirect-port',
        'disabled',
        '-tcp-port',
        'disabled',
        '-udp-port',
        'disabled',
        '-loglevel',
        'Warning',
      ]);
      await o.group.start(`fortio-${server}`, f, fa, () =>
        acceptsInNetns(p.netnsName, '127.0.0.1', HTTP_PORT),
      );
      const [i, ia] = commandFor({ netns: p.netnsName }, 'iperf3', [
        '-s',
        '--forceflush',
        '-p',
        String(IPERF_PORT),
      ]);
      await o.group.start(`iperf3-${server}`, i, ia, () =>
        acceptsInNetns(p.netnsName, '127.0.0.1', IPERF_PORT),
      );
    }
    // Until ztunnel has re-read the mesh file, inbound to the server pod is refused: wait for a tunnel.
    await acceptsInNetns(pod('plain-client').netnsName, pod('plain-server').ip, HTTP_PORT);
    {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = spawnSync(
          'ip',
          [
            'netns',
            'exec',
            pod('mesh-client').netnsName,
            'fortio',
            'curl',
            '-loglevel',
            'Error',
            `http://${pod('mesh-server').ip}:${HTTP_PORT}/echo`,
          ],
          { timeout: 5000, encoding: 'utf8' },
        );
        if (r.status === 0) break;
        if (Date.now() > deadline)
          throw new Error(`no request through the mesh after 20 s: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    }

    const direct = pod('plain-server').ip;
    const meshed = pod('mesh-server').ip;
    const paths: BenchPath[] = [
      {
        name: 'direct',
        client: { netns: pod('plain-client').netnsName, fortioStdClient: false },
        url: `http://${direct}:${HTTP_PORT}/echo`,
        bulk: { kind: 'iperf3', host: direct, port: IPERF_PORT },
        maxRateTool: 'wrk',
      },
      {
        name: 'ztunnel',
        client: { netns: pod('mesh-client').netnsName, fortioStdClient: false },
        url: `http://${meshed}:${HTTP_PORT}/echo`,
        bulk: { kind: 'iperf3', host: meshed, port: IPERF_PORT },
        maxRateTool: 'wrk',
        proxies: { client: a.z.pid, server: b.z.pid },
      },
    ];
    const inNetns = (
      p: Pod,
      name: string,
      args: string[],
      ready: RegExp,
      timeoutMs?: number,
    ): Promise<Started> => {
      const [f, fa] = commandFor({ netns: p.netnsName }, o.node, [
        join(o.here, 'hold-connections.ts'),
        ...args,
      ]);
      return o.group.start(
        name,
        f,
        fa,
        (s) =>
          new Promise<void>((resolve) => {
            let buf = '';
            s.child.stdout?.on('data', (c: Buffer) => {
              buf += c.toString();
              if (ready.test(buf)) resolve();
            });
          }),
        timeoutMs,
      );
    };
    return {
      paths,
      async holdIdle(n) {
        const sink = await inNetns(
          pod('mesh-server'),
          `sink-${n}`,
          ['sink', '--listen', `0.0.0.0:${SINK_PORT}`],
          /ready/,
        );
        const hold = await inNetns(
          pod('mesh-client'),
          `hold-${n}`,
          ['hold', '--target', `${meshed}:${SINK_PORT}`, '--count', String(n)],
          /held \d+/,
          90_000,
        );
        return async () => {
          for (const s of [hold, sink]) {
            const gone = new Promise((r) => s.child.once('exit', r));
            process.kill(s.pid, 'SIGTERM');
            await gone;
          }
        };
      },
      tunneledConnections: () =>
        counter(a.z, 'istio_tcp_connections_opened_total', ['reporter="source"']),
      describe: () => [
        `Topology: inpod (kernel path). Two node netns with a bridge each, joined by a veth pair; pods by Debian's CNI plugins (loopback, bridge + host-local) then ambit-cni (${existsSync(SEA) ? 'single executable' : 'node + main.ts'}); a node agent per node (nftables REDIRECT in the pod netns) and a ztunnel per node in in-pod mode (\`--inpod-socket\`), each its own process.`,
        `Load tool path: fortio, wrk and iperf3 run inside the client pod's netns (\`ip netns exec\`) and connect to the server pod's IP with no proxy setting; in the mesh pods nftables redirects that to ztunnel's :15001 in the pod, and ztunnel carries it over HBONE to the server pod's :15008. The direct path is a pair of pods in a non-ambient namespace on the same two nodes, bridges and link. Maximum rates: wrk (POST of 1 KiB); one-connection throughput: iperf3 -P 1.`,
        `Set inside every pod netns: net.ipv4.ip_local_port_range = ${PORT_RANGE} (tcp_tw_reuse left at the netns default, ${sysctlIn(pod('mesh-client').netnsName, 'net.ipv4.tcp_tw_reuse')}).`,
      ],
      async close() {
        for (const n of nodes.splice(0)) {
          await n.cniServer.close().catch(() => undefined);
          await n.agent.close().catch(() => undefined);
          n.source.close();
        }
        cleanupNetns();
        process.off('exit', cleanupNetns);
      },
    };
  } catch (err) {
    for (const n of nodes) {
      await n.cniServer.close().catch(() => undefined);
      await n.agent.close().catch(() => undefined);
      n.source.close();
    }
    cleanupNetns();
    throw err;
  }
}

function sysctlIn(netns: string, key: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'sysctl', '-n', key], { encoding: 'utf8' });
  return r.stdout.trim() || '?';
}
