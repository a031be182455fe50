// Topology A (issue 3, no root): everything on the loopback interface.
//   direct   fortio ─────────────────────────────────────────────────────────▶ fortio server (127.x.y.2)
//   ztunnel  fortio ─SOCKS5─▶ ztunnel node-a ══ HBONE (mTLS, HTTP/2 CONNECT) ══▶ ztunnel node-b ─▶ fortio server
//   haproxy  fortio ─▶ haproxy ════════ TCP over mTLS 1.3 ═════▶ haproxy ─▶ fortio server
// The load tool is fortio's Go client (`-stdclient`) on every path: it is the one that speaks SOCKS5
// (HTTP_PROXY=socks5://…; Go's net/http dials the proxy, sends CONNECT for the target, then HTTP
// inside). Go never proxies loopback destinations, so the ztunnel path targets a service VIP in the
// RFC 2544 benchmarking range (198.18.0.1) that ztunnel maps to the server workload: nothing else
// routes it, so a request that bypassed the proxy would fail. fortio cannot bind a source address
// and the kernel picks 127.0.0.1 for every 127/8 destination, so the client workload's IP is
// 127.0.0.1 (that is how ztunnel knows the source workload). wrk and iperf3 cannot use a proxy:
// maximum rates use `fortio -qps 0`, one-connection throughput a large fortio body.
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalCaIssuer } from '../../packages/core/src/ca-service/local-ca-issuer.ts';
import { haproxyPems, makeCerts } from '../hbone/certs.ts';
import { startHaproxyPair } from '../hbone/haproxy-pair.ts';
import { freePort, printsLine, type ProcessGroup } from '../hbone/processes.ts';
import type { ClientContext } from './load.ts';
import type { BenchPath, BenchTopology } from './topology.ts';
import { counter, startZtunnel } from './ztunnel-process.ts';

export const VIP = '198.18.0.1';
const HTTP_SVC_PORT = 8080;
const SINK_SVC_PORT = 9000;
/** Largest fortio echo body: one-connection throughput reads 1 MiB responses back to back. */
export const BULK_BYTES = 1024 * 1024;

export async function explicitTopology(o: {
  group: ProcessGroup;
  dir: string;
  node: string;
  ztunnel: string;
  hbonePair: string;
  withHaproxy: boolean;
  here: string;
}): Promise<BenchTopology> {
  // A /24 of its own per run, so that parallel runs or other tests do not collide.
  const serverIp = `127.${randomInt(200, 250)}.${randomInt(1, 250)}.2`;
  const clientIp = '127.0.0.1';
  const httpPort = await freePort();
  const sinkPort = await freePort();
  const socksPort = await freePort();
  const hbonePort = await freePort();

  const caDir = join(o.dir, 'ca');
  await createLocalCaIssuer({ trustDomain: 'cluster.local', dir: caDir });
  const meshFile = join(o.dir, 'mesh.yaml');
  writeFileSync(
    meshFile,
    `# ztunnel benchmark, explicit topology
mesh: { trustDomain: cluster.local, mtls: PERMISSIVE }
nodes: [{ name: node-a }, { name: node-b }]
workloads:
  - { name: bench-client, namespace: bench, serviceAccount: client, node: node-a, ip: ${clientIp}, labels: { app: bench-client } }
  - { name: bench-server, namespace: bench, serviceAccount: server, node: node-b, ip: ${serverIp}, labels: { app: bench-server } }
services:
  - name: bench-server
    namespace: bench
    vip: ${VIP}
    ports: [{ port: ${HTTP_SVC_PORT}, targetPort: ${httpPort}, name: http }, { port: ${SINK_SVC_PORT}, targetPort: ${sinkPort}, name: sink }]
    selector: { app: bench-server }
`,
  );

  await o.group.start(
    'fortio-server',
    'fortio',
    [
      'server',
      '-http-port',
      `${serverIp}:${httpPort}`,
      '-maxpayloadsizekb',
      String(BULK_BYTES / 1024),
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
    ],
    async (s, signal) => {
      // acceptsOn polls 127.0.0.1; the server listens on the server workload's IP.
      while (!signal.aborted) {
        try {
          const res = await fetch(`http://${serverIp}:${httpPort}/echo`, { signal });
          await res.text();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      void s;
    },
  );

  const common = ['--config-file', meshFile, '--ca-dir', caDir, '--hbone-port', String(hbonePort)];
  const nodeB = await startZtunnel({
    group: o.group,
    dir: o.dir,
    name: 'ztunnel-node-b',
    node: o.node,
    script: o.ztunnel,
    args: [...common, '--node-name', 'node-b', '--socks5-addr', 'off'],
  });
  const nodeA = await startZtunnel({
    group: o.group,
    dir: o.dir,
    name: 'ztunnel-node-a',
    node: o.node,
    script: o.ztunnel,
    args: [...common, '--node-name', 'node-a', '--socks5-addr', `127.0.0.1:${socksPort}`],
  });

  const noProxy = { HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };
  const plain: ClientContext = { env: noProxy, fortioStdClient: true };
  const socks: ClientContext = {
    env: {
      ...noProxy,
      HTTP_PROXY: `socks5://127.0.0.1:${socksPort}`,
      http_proxy: `socks5://127.0.0.1:${socksPort}`,
    },
    fortioStdClient: true,
  };
  const direct = `http://${serverIp}:${httpPort}`;
  const viaVip = `http://${VIP}:${HTTP_SVC_PORT}`;
  const paths: BenchPath[] = [
    {
      name: 'direct',
      client: plain,
      url: `${direct}/echo`,
      bulk: { kind: 'fortio', url: `${direct}/echo?size=${BULK_BYTES}` },
      maxRateTool: 'fortio',
    },
    {
      name: 'ztunnel',
      client: socks,
      url: `${viaVip}/echo`,
      bulk: { kind: 'fortio', url: `${viaVip}/echo?size=${BULK_BYTES}` },
      maxRateTool: 'fortio',
      proxies: { client: nodeA.pid, server: nodeB.pid },
    },
  ];
  let certsOrigin = '';
  if (o.withHaproxy) {
    const certsDir = join(o.dir, 'certs');
    mkdirSync(certsDir);
    const certs = makeCerts({ node: o.node, hbonePair: o.hbonePair, dir: certsDir });
    certsOrigin = certs.origin;
    const pair = await startHaproxyPair({
      group: o.group,
      name: 'haproxy',
      dir: o.dir,
      pems: haproxyPems(certs),
      backendPort: httpPort,
      backendHost: serverIp,
    });
    const via = `http://127.0.0.1:${pair.port}`;
    paths.push({
      name: 'haproxy',
      client: plain,
      url: `${via}/echo`,
      bulk: { kind: 'fortio', url: `${via}/echo?size=${BULK_BYTES}` },
      maxRateTool: 'fortio',
      proxies: pair.pids,
    });
  }

  return {
    paths,
    async holdIdle(n) {
      const sink = await o.group.start(
        `sink-${n}`,
        o.node,
        [join(o.here, 'hold-connections.ts'), 'sink', '--listen', `${serverIp}:${sinkPort}`],
        printsLine('ready'),
      );
      const hold = await o.group.start(
        `hold-${n}`,
        o.node,
        [
          join(o.here, 'hold-connections.ts'),
          'hold',
          '--socks',
          `127.0.0.1:${socksPort}`,
          '--target',
          `${VIP}:${SINK_SVC_PORT}`,
          '--count',
          String(n),
        ],
        printsLine(/^held \d+$/),
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
      counter(nodeA, 'istio_tcp_connections_opened_total', ['reporter="source"']),
    describe: () => [
      `Topology: explicit (loopback). Client workload 127.0.0.1 on node-a, server workload ${serverIp} on node-b, service VIP ${VIP} (RFC 2544 range; nothing routes it but ztunnel); HBONE port ${hbonePort}.`,
      `Load tool path: fortio's Go client (\`-stdclient\`) on every path; on the ztunnel path with \`HTTP_PROXY=socks5://127.0.0.1:${socksPort}\` (node-a's SOCKS5 listener): one SOCKS5 handshake per TCP connection, then HTTP inside the tunnel. Maximum rates: \`fortio -qps 0\`; one-connection throughput: \`fortio -c 1 -qps 0\` fetching ${BULK_BYTES / 1024} KiB bodies.`,
      o.withHaproxy
        ? `haproxy: \`nbthread 1\` per process, certificates from ${certsOrigin}, same topology (its client listener on 127.0.0.1, its server dials the server workload's IP).`
        : 'haproxy pair not run (--no-haproxy): no ratio targets.',
    ],
    async close() {
      // The ProcessGroup stops every process by PID.
    },
  };
}
