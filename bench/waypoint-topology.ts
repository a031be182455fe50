// The waypoint benchmark's processes, all on loopback (no root), as bench/ztunnel's explicit
// topology: fortio's Go client reaches ztunnel node-a through its SOCKS5 port, with the target a
// service VIP in the RFC 2544 range that only ztunnel knows (so a request that bypassed the mesh fails).
//   direct    fortio ─────────────────────────────────────────────────────────────▶ fortio server
//   l4        fortio ─SOCKS5─▶ ztunnel A ══HBONE══▶ ztunnel B ─▶ fortio server          (VIP .1)
//   waypoint  fortio ─SOCKS5─▶ ztunnel A ══HBONE══▶ waypoint ══HBONE══▶ ztunnel B ─▶ server (VIP .2)
//   haproxy   fortio ─▶ haproxy (tcp) ══mTLS══▶ haproxy (http mode) ══mTLS══▶ haproxy (tcp) ─▶ server
// Every proxy is the shipped bundle (build/ztunnel.mjs, build/waypoint.mjs) or Debian's haproxy
// with `nbthread 1` (a Node proxy runs its data path on one thread).
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalCaIssuer } from '../packages/core/src/ca-service/local-ca-issuer.ts';
import { writeIdentityFiles } from '../packages/core/src/hbone/identity-files.ts';
import type { SpiffeId } from '../packages/core/src/identity/spiffe-id.ts';
import { haproxyPems, makeCerts, type HaproxyPems } from './hbone/certs.ts';
import { acceptsOn, freePort, type ProcessGroup } from './hbone/processes.ts';
import type { ClientContext } from './ztunnel/load.ts';
import { startZtunnel, type ZtunnelProcess } from './ztunnel/ztunnel-process.ts';

export const PATHS = ['direct', 'l4', 'waypoint', 'haproxy'] as const;
export type WaypointPathName = (typeof PATHS)[number];

export interface WaypointBenchPath {
  name: WaypointPathName;
  client: ClientContext;
  url: string;
  /** Proxy processes on this path, by role. */
  proxies: Record<string, number>;
}

export interface WaypointTopology {
  paths: WaypointBenchPath[];
  waypointPid: number;
  describe(): string[];
}

const VIP_L4 = '198.18.0.1';
const VIP_WP = '198.18.0.2';
const SVC_PORT = 8080;

/** haproxy in http mode between two mTLS hops: the C counterpart of the waypoint. */
function haproxyL7Config(o: { listen: number; next: number; pems: HaproxyPems }): string {
  return `global
  nbthread 1
  maxconn 4000
  log stderr format short local0 err
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode http
  log global
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

frontend l7_in
  bind 127.0.0.1:${o.listen} ssl crt ${o.pems.server} ca-file ${o.pems.ca} verify required
  default_backend l7_out

backend l7_out
  server next 127.0.0.1:${o.next} ssl verify required ca-file ${o.pems.ca} crt ${o.pems.client}
`;
}

function haproxyTcpConfig(front: string, back: string): string {
  return `global
  nbthread 1
  maxconn 4000
  log stderr format short local0 err
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 120s
  timeout server 120s

frontend in
  ${front}
  default_backend out

backend out
  ${back}
`;
}

export async function waypointTopology(o: {
  group: ProcessGroup;
  dir: string;
  node: string;
  ztunnel: string;
  waypoint: string;
  hbonePair: string;
  /** Extra node flags for the waypoint process (profiling: `--cpu-prof --cpu-prof-dir=DIR`). */
  waypointNodeArgs?: readonly string[];
}): Promise<WaypointTopology> {
  const net = `127.${randomInt(200, 250)}.${randomInt(1, 250)}`;
  const serverIp = `${net}.2`;
  const waypointIp = `${net}.3`;
  const httpPort = await freePort();
  const socksPort = await freePort();
  const hbonePort = await freePort();
  const waypointPort = await freePort();

  const caDir = join(o.dir, 'ca');
  const ca = await createLocalCaIssuer({ trustDomain: 'cluster.local', dir: caDir });
  const idDir = join(o.dir, 'waypoint-id');
  await writeIdentityFiles(
    idDir,
    'waypoint',
    await ca.issue('spiffe://cluster.local/ns/bench/sa/bench-waypoint' as SpiffeId),
  );
  const meshFile = join(o.dir, 'mesh.yaml');
  writeFileSync(
    meshFile,
    `# waypoint benchmark
mesh: { trustDomain: cluster.local, mtls: PERMISSIVE }
nodes: [{ name: node-a }, { name: node-b }]
waypoints:
  - { name: bench-waypoint, namespace: bench, address: ${waypointIp}, port: ${waypointPort} }
workloads:
  - { name: bench-client, namespace: bench, serviceAccount: client, node: node-a, ip: 127.0.0.1, labels: { app: bench-client } }
  - { name: bench-server, namespace: bench, serviceAccount: server, node: node-b, ip: ${serverIp}, labels: { app: bench-server } }
services:
  - { name: bench-l4, namespace: bench, vip: ${VIP_L4}, ports: [{ port: ${SVC_PORT}, targetPort: ${httpPort}, name: http }], selector: { app: bench-server } }
  - { name: bench-l7, namespace: bench, vip: ${VIP_WP}, ports: [{ port: ${SVC_PORT}, targetPort: ${httpPort}, name: http }], selector: { app: bench-server }, waypoint: bench-waypoint }
`,
  );

  await o.group.start(
    'fortio-server',
    'fortio',
    [
      'server',
      ...['-http-port', `${serverIp}:${httpPort}`, '-grpc-port', 'disabled'],
      ...['-redirect-port', 'disabled', '-tcp-port', 'disabled', '-udp-port', 'disabled'],
      ...['-loglevel', 'Warning'],
    ],
    async (_s, signal) => {
      while (!signal.aborted) {
        try {
          await (await fetch(`http://${serverIp}:${httpPort}/echo`, { signal })).text();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
  );

  const common = ['--config-file', meshFile, '--ca-dir', caDir, '--hbone-port', String(hbonePort)];
  const nodeB: ZtunnelProcess = await startZtunnel({
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
  const readiness = await freePort();
  const wpLog = join(o.dir, 'waypoint.jsonl');
  const waypoint = await o.group.start(
    'waypoint',
    'sh',
    [
      '-c',
      `exec "$0" "$@" >> '${wpLog}' 2>&1`,
      o.node,
      ...(o.waypointNodeArgs ?? []),
      o.waypoint,
      ...['--name', 'bench-waypoint', '--namespace', 'bench', '--config-file', meshFile],
      ...['--identity-dir', idDir, '--hbone', `${waypointIp}:${waypointPort}`],
      ...['--endpoint-hbone-port', String(hbonePort), '--metrics-port', '0'],
      ...['--readiness-port', String(readiness), '--log-level', 'warn', '--drain-ms', '500'],
    ],
    async (_s, signal) => {
      while (!signal.aborted) {
        try {
          const res = await fetch(`http://127.0.0.1:${readiness}/`, { signal });
          await res.text();
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    30_000,
  );

  const certsDir = join(o.dir, 'certs');
  mkdirSync(certsDir);
  const certs = makeCerts({ node: o.node, hbonePair: o.hbonePair, dir: certsDir });
  const pems = haproxyPems(certs);
  const [hpServer, hpL7, hpClient] = [await freePort(), await freePort(), await freePort()];
  const cfg = (name: string, text: string): string => {
    const f = join(o.dir, `${name}.cfg`);
    writeFileSync(f, text);
    return f;
  };
  const haproxy = async (name: string, text: string, port: number): Promise<number> =>
    (await o.group.start(name, 'haproxy', ['-db', '-f', cfg(name, text)], acceptsOn(port))).pid;
  const hpServerPid = await haproxy(
    'haproxy-server',
    haproxyTcpConfig(
      `bind 127.0.0.1:${hpServer} ssl crt ${pems.server} ca-file ${pems.ca} verify required`,
      `server app ${serverIp}:${httpPort}`,
    ),
    hpServer,
  );
  const hpL7Pid = await haproxy(
    'haproxy-l7',
    haproxyL7Config({ listen: hpL7, next: hpServer, pems }),
    hpL7,
  );
  const hpClientPid = await haproxy(
    'haproxy-client',
    haproxyTcpConfig(
      `bind 127.0.0.1:${hpClient}`,
      `server peer 127.0.0.1:${hpL7} ssl verify required ca-file ${pems.ca} crt ${pems.client}`,
    ),
    hpClient,
  );

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
  const ztunnels = { 'ztunnel A': nodeA.pid, 'ztunnel B': nodeB.pid };
  return {
    waypointPid: waypoint.pid,
    paths: [
      { name: 'direct', client: plain, url: `http://${serverIp}:${httpPort}/echo`, proxies: {} },
      { name: 'l4', client: socks, url: `http://${VIP_L4}:${SVC_PORT}/echo`, proxies: ztunnels },
      {
        name: 'waypoint',
        client: socks,
        url: `http://${VIP_WP}:${SVC_PORT}/echo`,
        proxies: { ...ztunnels, waypoint: waypoint.pid },
      },
      {
        name: 'haproxy',
        client: plain,
        url: `http://127.0.0.1:${hpClient}/echo`,
        proxies: {
          'haproxy client': hpClientPid,
          'haproxy L7': hpL7Pid,
          'haproxy server': hpServerPid,
        },
      },
    ],
    describe: () => [
      `Topology (loopback, no root): client workload 127.0.0.1 on node-a; server workload ${serverIp} on node-b (fortio server); waypoint ${waypointIp}:${waypointPort}; HBONE port ${hbonePort}. Service VIPs ${VIP_L4} (no waypoint) and ${VIP_WP} (waypoint bench/bench-waypoint), RFC 2544 range: nothing but ztunnel routes them.`,
      `Load: fortio's Go client (\`-stdclient\`) on every path; through ztunnel with \`HTTP_PROXY=socks5://127.0.0.1:${socksPort}\` (node-a's SOCKS5 listener), as bench/ztunnel.ts.`,
      `C L7 proxy path: haproxy (tcp, TLS 1.3 client cert out) → haproxy \`mode http\` (mTLS in, keep-alive mTLS out, \`http-reuse always\`) → haproxy (tcp, mTLS in) → server; \`nbthread 1\` each; certificates from ${certs.origin}.`,
    ],
  };
}
