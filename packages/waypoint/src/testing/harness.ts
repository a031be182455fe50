// Test topology for the waypoint, all real sockets on loopback: a test PKI; "pods" on their own
// 127.77.x.y addresses, each a real node:http/http2 server behind a real HboneServer (standing in
// for the destination ztunnel; it only admits the waypoint's identity); the waypoint; and a client
// that reaches it over HBONE with :authority = the service VIP:port, as ztunnel does.

import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import { HbonePool } from '@ambit/core/hbone/pool';
import { HboneServer } from '@ambit/core/hbone/server';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { createLogger } from '@ambit/core/log';
import type { PodIp, ServiceVip } from '@ambit/core/mesh/ip';
import type { Route } from '@ambit/core/mesh/route-types';
import {
  DEFAULT_MESH_CONFIG,
  type Service,
  type Workload,
  type WorkloadUid,
} from '@ambit/core/mesh/types';
import type { Authorization } from '@ambit/core/policy/types';
import { createTestPki, type TestPki } from '@ambit/core/testing/pki';
import { WaypointState } from '../state/waypoint-state.ts';
import { Waypoint, type WaypointOptions } from '../waypoint.ts';

export const APP_NS = 'app';

export interface Pod {
  name: string;
  ip: string;
  port: number;
  workload: Workload;
  /** The app server: set `server` for HTTP/1.1 apps; h2/gRPC/ws apps attach to `listen`. */
  hbone: HboneServer;
  close(): Promise<void>;
}

export interface PodSpec {
  name: string;
  /** An HTTP/1.1 handler, or a ready server to listen (http2, grpc...) on ip:port. */
  handler?: RequestListener;
  /** Starts an app on (ip, port) and returns its closer. */
  start?(ip: string, port: number): Promise<() => Promise<void>>;
  healthy?: boolean;
}

export interface Harness {
  pki: TestPki;
  waypointId: TlsIdentity;
  clientId: TlsIdentity;
  waypoint: Waypoint;
  state: WaypointState;
  pods: Map<string, Pod>;
  address: { host: string; port: number };
  /** The port every pod's HBONE server listens on (each on its own IP). */
  podHbonePort: number;
  /** Adds a pod (and its HBONE server); call setMesh afterwards. */
  addPod(spec: PodSpec): Promise<Pod>;
  /** Services: name → pod names; port 80 → 8080 (or `appProtocol`). */
  setMesh(
    services: Record<string, string[]>,
    routes?: Route[],
    policies?: Authorization[],
    appProtocol?: Record<string, string>,
  ): void;
  vip(service: string): string;
  /** A raw HBONE tunnel to the waypoint for `service`:80 (or a workload ip:port). */
  tunnel(authority: string, source?: TlsIdentity): Promise<Duplex>;
  /**
   * An HTTP/1.1 keep-alive client whose connections are tunnels for `service`. `direct`: tunnels
   * straight to that pod's HBONE server (one hop, no waypoint; for comparisons).
   */
  http1(service: string, opts?: { connections?: number; direct?: string }): Pool;
  http2(service: string): Promise<ClientHttp2Session>;
  close(): Promise<void>;
}

let subnet = 0;

async function listenOn(server: Server, ip: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export async function startHarness(opts: Partial<WaypointOptions> = {}): Promise<Harness> {
  const pki = await createTestPki();
  const waypointId = await pki.issue(APP_NS, 'waypoint');
  const clientId = await pki.issue('client', 'client');
  const state = new WaypointState();
  const net = `127.77.${(process.pid + subnet++) % 250}`;
  let nextHost = 2;
  // Every pod's HBONE server listens on one port (15008 in a cluster): pick a free one.
  const probe = createHttpServer();
  const hbonePort = await listenOn(probe, `${net}.1`, 0);
  await new Promise((r) => probe.close(r));
  const pods = new Map<string, Pod>();
  const quiet = createLogger({ level: 'error', out: { write: () => true } });
  const waypoint = new Waypoint({
    identity: waypointId,
    self: { name: 'waypoint', namespace: APP_NS },
    state,
    logger: quiet,
    endpointHbonePort: hbonePort,
    ...opts,
  });
  const address = await waypoint.listen().then((a) => ({ host: a.address, port: a.port }));
  const clientPool = new HbonePool();
  const vips = new Map<string, string>();
  const clients: { close(): Promise<unknown> }[] = [];

  const h: Harness = {
    pki,
    waypointId,
    clientId,
    waypoint,
    state,
    pods,
    address,
    podHbonePort: hbonePort,
    async addPod(spec) {
      const ip = `${net}.${nextHost++}`;
      const id = await pki.issue(APP_NS, spec.name);
      let closeApp: () => Promise<void>;
      let port: number;
      if (spec.start) {
        port = 8080;
        closeApp = await spec.start(ip, port);
      } else {
        const server = createHttpServer({ keepAliveTimeout: 60_000 }, spec.handler);
        port = await listenOn(server, ip, 8080);
        closeApp = () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          });
      }
      const hbone = new HboneServer({
        identity: id,
        trustDomain: pki.trustDomain,
        host: ip,
        port: hbonePort,
        authorize: (ctx) =>
          Promise.resolve(ctx.peerId === waypointId.id ? true : { deny: 'not the waypoint' }),
        dial: (ctx) =>
          new Promise<Duplex>((resolve, reject) => {
            const s: Socket = netConnect(ctx.target.port, ctx.target.host);
            s.once('connect', () => resolve(s));
            s.once('error', reject);
          }),
      });
      await hbone.listen();
      const workload: Workload = {
        uid: `uid-${spec.name}` as WorkloadUid,
        name: spec.name,
        namespace: APP_NS,
        serviceAccount: spec.name,
        node: 'node-1',
        ips: [ip as PodIp],
        protocol: 'HBONE',
        labels: { app: spec.name },
        workloadName: spec.name,
        canonicalName: spec.name,
        canonicalRevision: 'v1',
        healthy: spec.healthy ?? true,
      };
      const pod: Pod = {
        name: spec.name,
        ip,
        port,
        workload,
        hbone,
        async close() {
          await hbone.close({ graceMs: 0 });
          await closeApp();
        },
      };
      pods.set(spec.name, pod);
      return pod;
    },
    setMesh(services, routes = [], policies = [], appProtocol = {}) {
      const svc: Service[] = Object.entries(services).map(([name, podNames], i) => {
        const vip = `10.96.${subnet % 250}.${i + 10}`;
        vips.set(name, vip);
        const ap = appProtocol[name];
        return {
          name,
          namespace: APP_NS,
          hostname: `${name}.${APP_NS}.svc.cluster.local`,
          vips: [vip as ServiceVip],
          ports: [{ port: 80, targetPort: 8080, ...(ap !== undefined && { appProtocol: ap }) }],
          endpoints: podNames.map((p) => ({ workloadUid: `uid-${p}` as WorkloadUid })),
        };
      });
      state.replace(
        {
          mesh: { ...DEFAULT_MESH_CONFIG, trustDomain: pki.trustDomain },
          workloads: [...pods.values()].map((p) => p.workload),
          services: svc,
          policies,
        },
        routes,
      );
    },
    vip(service) {
      const v = vips.get(service);
      if (v === undefined) throw new Error(`no service ${service}`);
      return v;
    },
    tunnel(authority, source = clientId) {
      return clientPool.connect({ address, authority, source, expectedPeers: [waypointId.id] });
    },
    http1(service, o = {}) {
      const authority = `${h.vip(service)}:80`;
      const pod = o.direct === undefined ? undefined : pods.get(o.direct);
      const tunnel = (): Promise<Duplex> =>
        pod === undefined
          ? h.tunnel(authority)
          : clientPool.connect({
              address: { host: pod.ip, port: hbonePort },
              authority: `${pod.ip}:${pod.port}`,
              source: waypointId,
              expectedPeers: [
                formatSpiffeId({
                  trustDomain: pki.trustDomain,
                  namespace: APP_NS,
                  serviceAccount: pod.name,
                }),
              ],
            });
      const c = new Pool(`http://${service}.${APP_NS}`, {
        ...(o.connections !== undefined && { connections: o.connections }),
        connect: (_o, cb) => {
          tunnel().then(
            (s) => cb(null, s as never),
            (e: Error) => cb(e, null),
          );
          return undefined;
        },
      });
      clients.push(c);
      return c;
    },
    async http2(service) {
      const tunnel = await h.tunnel(`${h.vip(service)}:80`);
      const s = h2connect(`http://${service}.${APP_NS}`, { createConnection: () => tunnel });
      s.on('error', () => {});
      clients.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
      return s;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await waypoint.close({ graceMs: 0 });
      await clientPool.close();
      await Promise.allSettled([...pods.values()].map((p) => p.close()));
    },
  };
  return h;
}
