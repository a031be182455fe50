import { createServer } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshError, MeshStateConflictError } from '../errors.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { TestStreamServer } from '../testing/stream-server.ts';
import type { AnyConfigUpdate } from './config-source.ts';
import {
  ConfigStreamClient,
  type ConfigStreamClientOptions,
  type ReconnectTimers,
} from './stream-client.ts';

const workload = (uid: string, ip: string) => ({
  uid,
  name: uid,
  namespace: 'shop',
  serviceAccount: 'default',
  node: 'node-a',
  ips: [ip],
  protocol: 'HBONE',
  labels: { app: uid },
  workloadName: uid,
  canonicalName: uid,
  canonicalRevision: 'latest',
  healthy: true,
});
const route = (name: string) => ({ name, namespace: 'shop', rules: [] });

let pki: TestPki;
let controller: TlsIdentity;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  controller = await pki.issue('ambit-system', 'ambit-controller');
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startServer(port?: number, goodToken = 'good-token'): Promise<TestStreamServer> {
  const server = new TestStreamServer({
    identity: controller,
    authenticate: (t) => t === goodToken,
    ...(port !== undefined && { port }),
  });
  await server.listen();
  cleanups.push(() => server.close());
  return server;
}

/** Collects a client's errors and updates, and lets a test wait for the next one that matches. */
function observe() {
  const errors: Error[] = [];
  const updates: AnyConfigUpdate[] = [];
  const waiters: { match: (e: Error) => boolean; resolve: (e: Error) => void }[] = [];
  return {
    errors,
    updates,
    onError(err: Error) {
      errors.push(err);
      const i = waiters.findIndex((w) => w.match(err));
      if (i >= 0) waiters.splice(i, 1)[0]?.resolve(err);
    },
    onUpdate(u: AnyConfigUpdate) {
      updates.push(u);
    },
    nextError(code: string): Promise<Error> {
      return new Promise((resolve) =>
        waiters.push({ match: (e) => e instanceof MeshError && e.code === code, resolve }),
      );
    },
  };
}

function startClient(
  port: number,
  obs: ReturnType<typeof observe>,
  extra: Partial<ConfigStreamClientOptions> = {},
): ConfigStreamClient {
  const client = new ConfigStreamClient({
    address: { host: '127.0.0.1', port },
    roots: pki.rootCertPem,
    expectedServerId: controller.id,
    token: { supply: () => 'good-token' },
    node: 'node-a',
    types: ['Workload', 'Route'],
    backoff: { initialMs: 20, maxMs: 100 },
    onError: (e) => obs.onError(e),
    onUpdate: (u) => obs.onUpdate(u),
    ...extra,
  });
  cleanups.push(() => client.close());
  return client.start();
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ConfigStreamClient', () => {
  it('subscribes, applies a snapshot then a delta, ACKs each, and reports state', async () => {
    const server = await startServer();
    const obs = observe();
    const client = startClient(server.port, obs);
    const conn = await server.nextConnection();
    expect(conn.token).toBe('good-token');
    expect(conn.subscribe).toEqual({
      schema: 1,
      kind: 'subscribe',
      node: 'node-a',
      types: ['Workload', 'Route'],
      versions: {},
    });

    const ready = client.ready();
    expect(
      await conn.send({
        type: 'Workload',
        version: 'w1',
        nonce: 'n1',
        resources: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2')],
      }),
    ).toEqual({ schema: 1, kind: 'ack', type: 'Workload', version: 'w1', nonce: 'n1' });
    await conn.send({ type: 'Route', version: 'r1', resources: [route('home')] });
    await ready;

    const delta = await conn.send({
      type: 'Workload',
      version: 'w2',
      resources: [workload('c', '10.0.0.3')],
      removed: ['a'],
    });
    expect(delta.kind).toBe('ack');
    expect([...client.resources('Workload').keys()]).toEqual(['b', 'c']);
    expect(client.resources('Workload').get('c')?.ips).toEqual(['10.0.0.3']);

    expect(obs.updates.map((u) => [u.type, u.version, u.snapshot, u.changed, u.removed])).toEqual([
      ['Workload', 'w1', true, ['a', 'b'], []],
      ['Route', 'r1', true, ['shop/home'], []],
      ['Workload', 'w2', false, ['c'], ['a']],
    ]);
    const state = client.state();
    expect(state).toMatchObject({
      connected: true,
      closed: false,
      failures: 0,
      versions: { Workload: 'w2', Route: 'r1' },
      endpoint: `https://127.0.0.1:${server.port}/ambit.config.v1/stream`,
    });
    expect(state.types.Workload).toMatchObject({
      version: 'w2',
      resources: 2,
      synced: true,
      lastAck: { version: 'w2' },
    });
    expect(obs.errors).toEqual([]);
    expect(server.clientErrors).toEqual([]);
  });

  it('NACKs a malformed delta with the reason, keeps the previous state, then applies the next good delta', async () => {
    const server = await startServer();
    const obs = observe();
    const client = startClient(server.port, obs);
    const conn = await server.nextConnection();
    await conn.send({
      type: 'Workload',
      version: 'w1',
      resources: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2')],
    });

    // The first resource is fine, the second is not: nothing of the message may apply.
    const nack = await conn.send({
      type: 'Workload',
      version: 'w2',
      nonce: 'bad',
      resources: [workload('c', '10.0.0.3'), workload('d', '10.0.0.300')],
      removed: ['a'],
    });
    expect(nack).toMatchObject({ kind: 'nack', type: 'Workload', nonce: 'bad', version: 'w1' });
    expect(nack.kind === 'nack' && nack.reason).toMatch(/resources\[1\]\.ips\[0\].*not an IP/);
    expect([...client.resources('Workload').keys()]).toEqual(['a', 'b']);
    expect(client.state().versions.Workload).toBe('w1');
    expect(client.state().types.Workload?.lastNack).toMatchObject({ nonce: 'bad', version: 'w1' });
    expect(obs.errors.map((e) => (e as MeshError).code)).toEqual(['AMBIT_CONFIG_STREAM_MESSAGE']);

    // The next delta (relative to w1, the last ACKed) applies as a delta.
    const ack = await conn.send({
      type: 'Workload',
      version: 'w3',
      resources: [workload('c', '10.0.0.3')],
    });
    expect(ack.kind).toBe('ack');
    expect([...client.resources('Workload').keys()]).toEqual(['a', 'b', 'c']);
    expect(client.state().connected).toBe(true);
  });

  it("NACKs an update the consumer's apply hook refuses, and keeps the previous state", async () => {
    const server = await startServer();
    const obs = observe();
    const client = startClient(server.port, obs, {
      apply(u) {
        if (u.type === 'Workload' && u.resources.has('evil')) {
          throw new MeshStateConflictError('10.0.0.1 is already the IP of shop/a');
        }
      },
    });
    const conn = await server.nextConnection();
    await conn.send({ type: 'Workload', version: 'w1', resources: [workload('a', '10.0.0.1')] });
    const nack = await conn.send({
      type: 'Workload',
      version: 'w2',
      resources: [workload('evil', '10.0.0.1')],
    });
    expect(nack).toMatchObject({ kind: 'nack', reason: '10.0.0.1 is already the IP of shop/a' });
    expect([...client.resources('Workload').keys()]).toEqual(['a']);
    expect(obs.updates.map((u) => u.version)).toEqual(['w1']);
  });

  it('NACKs a message with an unknown schema version or an unsubscribed type', async () => {
    const server = await startServer();
    const obs = observe();
    const client = startClient(server.port, obs);
    const conn = await server.nextConnection();
    await conn.send({ type: 'Workload', version: 'w1', resources: [workload('a', '10.0.0.1')] });

    conn.sendRaw(
      `${JSON.stringify({ schema: 2, type: 'Workload', version: 'w2', nonce: 'future', resources: [], removed: [] })}\n`,
    );
    const nack = await conn.reply('future');
    expect(nack).toMatchObject({ kind: 'nack', type: 'Workload', version: 'w1' });
    expect(nack.kind === 'nack' && nack.reason).toMatch(
      /schema: 2 is not a supported schema version/,
    );

    const other = await conn.send({ type: 'Service', version: 's1', resources: [] });
    expect(other.kind === 'nack' && other.reason).toMatch(/not subscribed/);

    expect([...client.resources('Workload').keys()]).toEqual(['a']);
    expect(client.state().connected).toBe(true);
  });

  it('refuses a bad token with 401, reports it clearly, and connects once the token is fixed', async () => {
    const server = await startServer();
    const obs = observe();
    let token = 'expired-token';
    const refused = obs.nextError('AMBIT_CONFIG_STREAM_UNAUTHENTICATED');
    const client = startClient(server.port, obs, {
      token: { supply: () => token },
      backoff: { initialMs: 60_000 }, // only reload() retries in this test
    });
    const err = await refused;
    expect(err).toMatchObject({ status: 401 });
    expect(err.message).toMatch(/refused the token \(401\): token refused/);
    expect(server.refused).toEqual([{ token: 'expired-token', status: 401 }]);
    expect(client.state()).toMatchObject({
      connected: false,
      failures: 1,
      lastError: { code: 'AMBIT_CONFIG_STREAM_UNAUTHENTICATED' },
    });
    expect(client.state().nextRetryAt).toBeDefined();

    // The token is read again for every connection (projected tokens rotate).
    token = 'good-token';
    const next = server.nextConnection();
    await client.reload();
    expect((await next).token).toBe('good-token');
    expect(client.state().connected).toBe(true);
  });

  it('refuses a controller whose certificate does not chain to the given roots', async () => {
    const server = await startServer();
    const other = await createTestPki('other.example');
    const obs = observe();
    const failed = obs.nextError('AMBIT_CONFIG_STREAM_CONNECT');
    startClient(server.port, obs, {
      roots: other.rootCertPem,
      backoff: { initialMs: 60_000 },
    });
    expect((await failed).message).toMatch(/certificate/i);
    expect(server.connections).toEqual([]);
  });

  it('keeps its config while the controller is away, then resumes with its versions', async () => {
    const server = await startServer();
    const port = server.port;
    const obs = observe();
    const client = startClient(port, obs);
    const conn = await server.nextConnection();
    await conn.send({
      type: 'Workload',
      version: 'w7',
      resources: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2')],
    });
    await conn.send({ type: 'Route', version: 'r3', resources: [route('home')] });

    const lost = obs.nextError('AMBIT_CONFIG_STREAM_CONNECT');
    await server.close();
    await lost;
    // Disconnected, retrying, and still serving the last good config.
    expect(client.state().connected).toBe(false);
    expect([...client.resources('Workload').keys()]).toEqual(['a', 'b']);
    expect(obs.updates.every((u) => u.resources.size > 0)).toBe(true);

    const restarted = await startServer(port);
    const conn2 = await restarted.nextConnection();
    expect(conn2.subscribe.versions).toEqual({ Workload: 'w7', Route: 'r3' });
    expect([...client.resources('Workload').keys()]).toEqual(['a', 'b']);

    // The first message on the new stream is a full snapshot; only real differences are reported.
    await conn2.send({
      type: 'Workload',
      version: 'w8',
      resources: [workload('a', '10.0.0.1'), workload('c', '10.0.0.3')],
    });
    expect([...client.resources('Workload').keys()]).toEqual(['a', 'c']);
    expect(obs.updates.at(-1)).toMatchObject({
      version: 'w8',
      snapshot: true,
      changed: ['c'],
      removed: ['b'],
    });
    expect(client.state()).toMatchObject({ connected: true, failures: 0 });
  });

  it('closes the stream on an over-long or unreadable line and reconnects, keeping its config', async () => {
    const server = await startServer();
    const obs = observe();
    const client = startClient(server.port, obs, { maxMessageChars: 2000 });
    const conn = await server.nextConnection();
    await conn.send({ type: 'Workload', version: 'w1', resources: [workload('a', '10.0.0.1')] });

    let broken = obs.nextError('AMBIT_CONFIG_STREAM_PROTOCOL');
    let again = server.nextConnection();
    conn.sendRaw(`${JSON.stringify({ pad: 'x'.repeat(3000) })}\n`);
    expect((await broken).message).toMatch(/longer than 2000/);
    expect((await again).subscribe.versions).toEqual({ Workload: 'w1' });

    broken = obs.nextError('AMBIT_CONFIG_STREAM_PROTOCOL');
    const conn2 = server.connections.at(-1);
    again = server.nextConnection();
    conn2?.sendRaw('this is not json\n');
    expect((await broken).message).toMatch(/without a usable type and nonce/);
    await again;
    expect([...client.resources('Workload').keys()]).toEqual(['a']);
  });

  it('backs off exponentially with jitter up to the cap, and close() stops reconnecting', async () => {
    const port = await closedPort();
    const scheduled: { fn: () => void; ms: number }[] = [];
    const cleared: unknown[] = [];
    let onSchedule: (() => void) | undefined;
    const timers: ReconnectTimers = {
      setTimeout(fn, ms) {
        const h = { fn, ms };
        scheduled.push(h);
        onSchedule?.();
        return h;
      },
      clearTimeout: (h) => cleared.push(h),
    };
    const waitScheduled = (n: number) =>
      new Promise<void>((resolve) => {
        onSchedule = () => scheduled.length >= n && resolve();
        onSchedule();
      });

    let attempts = 0; // each connection attempt reads the token once
    const run = async (random: () => number, count: number) => {
      scheduled.length = 0;
      const client = startClient(port, observe(), {
        token: { supply: () => (attempts++, 'good-token') },
        timers,
        random,
        backoff: { initialMs: 100, maxMs: 800, jitter: 0.5 },
      });
      for (let i = 1; i <= count; i++) {
        await waitScheduled(i);
        if (i < count) scheduled[i - 1]?.fn(); // the delay elapses: try again
      }
      return client;
    };

    // Without the jitter's share: 100, 200, 400, 800, then capped.
    const top = await run(() => 1, 6);
    expect(scheduled.map((s) => s.ms)).toEqual([100, 200, 400, 800, 800, 800]);
    expect(top.state()).toMatchObject({
      failures: 6,
      lastError: { code: 'AMBIT_CONFIG_STREAM_CONNECT' },
    });
    expect(top.state().lastError?.message).toMatch(/ECONNREFUSED/);
    await top.close();

    // The jitter takes up to half off.
    const low = await run(() => 0, 5);
    expect(scheduled.map((s) => s.ms)).toEqual([50, 100, 200, 400, 400]);

    // close() cancels the pending retry; a late timer fires into nothing.
    const pending = scheduled.at(-1);
    const attemptsBefore = attempts;
    await low.close();
    expect(cleared).toContain(pending);
    pending?.fn();
    await low.reload();
    await new Promise((r) => setTimeout(r, 50));
    expect(scheduled).toHaveLength(5);
    expect(attempts).toBe(attemptsBefore);
    expect(low.state()).toMatchObject({ closed: true, connected: false });
    await expect(low.ready()).rejects.toMatchObject({ code: 'AMBIT_CONFIG_STREAM_CLOSED' });
  });
});
