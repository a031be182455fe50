// TEST AND BENCH ONLY: a controller's 15012 on 127.0.0.1 (real TLS 1.3 + HTTP/2) with a config
// store, the config stream server and optionally a CA; resource builders; real config-stream
// clients (core's ConfigStreamClient) and a raw HTTP/2 subscriber that ACKs only when told to (or
// never reads at all), to drive the server into the cases a well-behaved client never produces.

import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { CaAuthenticator } from '@ambit/core/ca-service/server';
import { CaService } from '@ambit/core/ca-service/server';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { createLogger, type Logger } from '@ambit/core/log';
import type { AnyConfigUpdate } from '@ambit/core/mesh/config-source';
import {
  CONFIG_STREAM_PATH,
  ConfigStreamClient,
  type ConfigStreamClientOptions,
} from '@ambit/core/mesh/stream-client';
import {
  LineSplitter,
  STREAM_SCHEMA,
  decodeServerMessage,
  encodeClientMessage,
  type ResourceType,
  type ServerMessage,
} from '@ambit/core/mesh/stream-protocol';
import type { MeshConfig, Service, Workload } from '@ambit/core/mesh/types';
import { createMetricsRegistry, type Registry } from '@ambit/core/metrics/registry';
import type { Authorization } from '@ambit/core/policy/types';
import { createTestPki, type TestPki } from '@ambit/core/testing/pki';
import { ControllerServer } from '../server/controller-server.ts';
import { ConfigStore } from './config-store.ts';
import {
  ConfigStreamServer,
  type ConfigStreamServerOptions,
  type StreamAuthenticator,
} from './config-stream-server.ts';

// --- resources ---

export function workload(i: number, over: Partial<Record<string, unknown>> = {}): Workload {
  const name = `app-${i}`;
  return {
    uid: `uid-${i}`,
    name,
    namespace: `ns-${i % 10}`,
    serviceAccount: `sa-${i % 50}`,
    node: `node-${i % 20}`,
    ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
    protocol: 'HBONE',
    labels: { app: `app-${i % 200}`, version: 'v1' },
    workloadName: `deploy-${i % 200}`,
    canonicalName: `app-${i % 200}`,
    canonicalRevision: 'v1',
    healthy: true,
    ...over,
  } as unknown as Workload;
}

/** Service `svc-i`, endpoints the workloads whose `i % services === i`. */
export function service(i: number, workloads: number, services: number): Service {
  const endpoints = [];
  for (let w = i; w < workloads; w += services) endpoints.push({ workloadUid: `uid-${w}` });
  return {
    name: `svc-${i}`,
    namespace: `ns-${i % 10}`,
    hostname: `svc-${i}.ns-${i % 10}.svc.cluster.local`,
    vips: [`10.96.${(i >> 8) & 255}.${i & 255}`],
    ports: [{ port: 80, targetPort: 8080, name: 'http', appProtocol: 'http' }],
    endpoints,
  } as unknown as Service;
}

export function authorization(
  namespace: string,
  name: string,
  scope: Authorization['scope'] = { kind: 'namespace' },
): Authorization {
  return {
    name,
    namespace,
    scope,
    action: 'ALLOW',
    rules: [{ from: [{ namespaces: [namespace] }] }],
  };
}

export const MESH: MeshConfig = {
  trustDomain: 'cluster.local',
  mtlsMode: 'PERMISSIVE',
  namespaceMtlsModes: {},
  rootsPem: '',
};

/** Fills every type of `store`: `workloads` workloads, `services` services, a few policies and routes. */
export function seed(store: ConfigStore, workloads: number, services: number): void {
  store.replace(
    'Workload',
    Array.from({ length: workloads }, (_, i) => workload(i)),
  );
  store.replace(
    'Service',
    Array.from({ length: services }, (_, i) => service(i, workloads, services)),
  );
  store.replace('Authorization', [
    authorization('ns-1', 'allow-own'),
    authorization('ns-2', 'waypoint-only', {
      kind: 'targetRefs',
      targetRefs: [{ kind: 'Service', name: 'svc-2' }],
    }),
    authorization('ambit-system', 'mesh-wide', { kind: 'mesh' }),
  ]);
  store.replace('Route', [{ name: 'reviews', namespace: 'ns-3', rules: [] }]);
  store.replace('MeshConfig', [MESH]);
}

// --- the controller ---

/** Tokens: `ztunnel:<node>`, `waypoint:<ns>:<name>`; `forbidden` → 403; anything else → 401. */
export const testAuthenticator: StreamAuthenticator = (token) => {
  const [kind, a, b] = token.split(':');
  if (kind === 'ztunnel' && a) return Promise.resolve({ ok: true, identity: { kind, node: a } });
  if (kind === 'waypoint' && a && b) {
    return Promise.resolve({ ok: true, identity: { kind, namespace: a, name: b } });
  }
  if (token === 'forbidden') return Promise.resolve({ ok: false, status: 403, reason: 'no' });
  return Promise.resolve({ ok: false, reason: 'token not accepted' });
};

/** A CA authenticator for tests: the token `ca-ok` may have any identity. */
export const testCaAuthenticator: CaAuthenticator = (token) =>
  Promise.resolve(
    token === 'ca-ok'
      ? { allowed: true }
      : { allowed: false, status: 401, reason: 'token not accepted' },
  );

export interface TestController {
  pki: TestPki;
  identity: TlsIdentity;
  store: ConfigStore;
  stream: ConfigStreamServer;
  /** The current listener (replaced by restart()). */
  readonly server: ControllerServer;
  registry: Registry;
  /** Closes the listener (every session drops) and listens again on the same port, same store and stream server. */
  restart(): Promise<void>;
  port: number;
  logs: string[];
  /** A real config-stream client (started), with every committed update recorded. */
  client(
    token: string,
    node: string,
    types?: readonly ResourceType[],
    extra?: Partial<ConfigStreamClientOptions>,
  ): { client: ConfigStreamClient; updates: AnyConfigUpdate[] };
  /** A raw subscriber (see RawSubscriber). */
  raw(
    token: string,
    node: string,
    types: readonly ResourceType[],
    opts?: { read?: boolean; subscribeLine?: string },
  ): RawSubscriber;
  /** The value of a counter/gauge sample, 0 if absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export interface TestControllerOptions extends Partial<ConfigStreamServerOptions> {
  withCa?: boolean;
  pingIntervalMs?: number;
  /** Reuse this port (a restart). */
  port?: number;
  log?: Logger;
}

export async function startTestController(
  opts: TestControllerOptions = {},
): Promise<TestController> {
  const pki = await createTestPki();
  const identity = await pki.issue('ambit-system', 'ambit-controller');
  const store = opts.store ?? new ConfigStore();
  const registry = opts.registry ?? createMetricsRegistry();
  const logs: string[] = [];
  const log =
    opts.log ?? createLogger({ level: 'debug', out: { write: (l: string) => logs.push(l) } });
  const stream = new ConfigStreamServer({
    authenticate: testAuthenticator,
    debounceMs: 10,
    maxDelayMs: 100,
    ...opts,
    store,
    registry,
    log,
  });
  const ca = opts.withCa
    ? new CaService({ ca: pki.ca, authenticate: testCaAuthenticator })
    : undefined;
  const listen = async (port: number) => {
    const s = new ControllerServer({
      tls: { key: identity.key, cert: identity.certChain },
      host: '127.0.0.1',
      port,
      configStream: stream,
      ...(ca && { ca }),
      ...(opts.pingIntervalMs !== undefined && { pingIntervalMs: opts.pingIntervalMs }),
      log,
    });
    return { s, port: (await s.listen()).port };
  };
  let { s: server, port } = await listen(opts.port ?? 0);
  const clients: ConfigStreamClient[] = [];
  const raws: RawSubscriber[] = [];
  return {
    pki,
    identity,
    store,
    stream,
    get server() {
      return server;
    },
    registry,
    port,
    logs,
    async restart() {
      await server.close();
      ({ s: server, port } = await listen(port));
    },
    client(token, node, types = ['Workload', 'Service', 'Authorization', 'MeshConfig'], extra) {
      const updates: AnyConfigUpdate[] = [];
      const client = new ConfigStreamClient({
        address: { host: '127.0.0.1', port },
        roots: pki.rootCertPem,
        expectedServerId: identity.id,
        token: { supply: () => token },
        node,
        types,
        backoff: { initialMs: 20, maxMs: 200 },
        onUpdate: (u) => updates.push(u),
        ...extra,
      }).start();
      clients.push(client);
      return { client, updates };
    },
    raw(token, node, types, rawOpts) {
      const r = new RawSubscriber(port, pki.rootCertPem, token, node, types, rawOpts);
      raws.push(r);
      return r;
    },
    async metric(name, labels = {}) {
      const m = await registry.getSingleMetric(name)?.get();
      const sample = m?.values.find((v) =>
        Object.entries(labels).every(([k, val]) => v.labels[k] === val),
      );
      return sample?.value ?? 0;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      for (const r of raws) r.destroy();
      stream.close();
      await server.close();
    },
  };
}

// --- a raw subscriber ---

/**
 * Speaks the client side by hand: sends the subscribe, records every server message, and ACKs or
 * NACKs only when the test says so. `read: false` never reads the response at all (HTTP/2 flow
 * control then holds the server's writes back: a stuck data plane).
 */
export class RawSubscriber {
  readonly session: ClientHttp2Session;
  readonly req: ClientHttp2Stream;
  readonly messages: ServerMessage[] = [];
  status: number | undefined;
  body = '';
  /** The stream ended: the RST code if reset, 0 if ended cleanly. */
  closedWith: number | undefined;
  readonly #splitter = new LineSplitter();
  #waiters: (() => void)[] = [];

  constructor(
    port: number,
    roots: string,
    token: string,
    node: string,
    types: readonly ResourceType[],
    opts: { read?: boolean; subscribeLine?: string } = {},
  ) {
    this.session = h2connect(`https://127.0.0.1:${port}`, {
      ca: roots,
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.3',
    });
    this.session.on('error', () => {});
    this.req = this.session.request(
      {
        ':method': 'POST',
        ':path': CONFIG_STREAM_PATH,
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-ndjson',
      },
      { endStream: false },
    );
    this.req.on('error', () => {});
    this.req.on('response', (h) => {
      this.status = Number(h[':status']);
      this.#wake();
    });
    this.req.on('close', () => {
      this.closedWith = this.req.rstCode ?? 0;
      this.#wake();
    });
    if (opts.read !== false) {
      this.req.on('data', (chunk: Buffer) => {
        if (this.status !== 200) {
          this.body += chunk.toString();
          return;
        }
        for (const line of this.#splitter.push(chunk))
          this.messages.push(decodeServerMessage(line));
        this.#wake();
      });
    }
    this.req.write(
      opts.subscribeLine ??
        encodeClientMessage({
          schema: STREAM_SCHEMA,
          kind: 'subscribe',
          node,
          types,
          versions: {},
        }),
    );
  }

  /** Writes raw text on the stream. */
  write(text: string): void {
    this.req.write(text);
  }

  ack(m: ServerMessage): void {
    this.write(
      encodeClientMessage({
        schema: STREAM_SCHEMA,
        kind: 'ack',
        type: m.type,
        version: m.version,
        nonce: m.nonce,
      }),
    );
  }

  nack(m: ServerMessage, keeps: string, reason: string): void {
    this.write(
      encodeClientMessage({
        schema: STREAM_SCHEMA,
        kind: 'nack',
        type: m.type,
        version: keeps,
        nonce: m.nonce,
        reason,
      }),
    );
  }

  /** Resolves once `ok()` holds (checked on every event), or rejects after `ms`. */
  async until(ok: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Messages of one type received so far. */
  of(type: ResourceType): ServerMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  destroy(): void {
    this.session.destroy();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/** Polls `ok` until it holds (generous bound; tests never assert timing). */
export async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
