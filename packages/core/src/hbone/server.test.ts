import {
  connect as h2connect,
  constants as h2,
  type ClientHttp2Session,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { createTestPki } from '../testing/pki.ts';
import { HbonePool } from './pool.ts';
import type { HboneStreamResult } from './server.ts';
import {
  closeAll,
  createFixture,
  readAll,
  startBackend,
  startHboneServer,
  type Fixture,
} from './test-fixtures.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

/** A plain node:http2 client (the pool would never send malformed requests). */
function rawSession(
  port: number,
  who: Partial<TlsIdentity> | undefined,
): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${port}`, {
      ca: f.server.roots,
      ...(who?.key && { key: who.key, cert: who.certChain }),
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.3',
    });
    f.cleanups.push(() => void s.destroy());
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('session closed')));
    s.socket.once('error', reject);
  });
}

function status(s: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = s.request(headers, { endStream: false });
    r.once('response', (h) => {
      resolve(Number(h[':status']));
      r.close(h2.NGHTTP2_CANCEL);
    });
    r.once('error', reject);
  });
}

function pool(): HbonePool {
  const p = new HbonePool({ connectTimeoutMs: 5_000 });
  f.cleanups.push(() => p.close({ graceMs: 0 }));
  return p;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise((r) => srv.close(r));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

describe('HBONE server', () => {
  it('answers malformed requests 400 and keeps serving the same session', async () => {
    const backend = await startBackend(f);
    const results: (HboneStreamResult & { hadCtx: boolean })[] = [];
    const { port } = await startHboneServer(f, {
      onStreamEnd: (ctx, r) => results.push({ ...r, hadCtx: ctx !== undefined }),
    });
    const s = await rawSession(port, f.client);
    expect(await status(s, { ':method': 'GET', ':path': '/' })).toBe(400);
    expect(await status(s, { ':method': 'CONNECT', ':authority': 'garbage' })).toBe(400);
    expect(await status(s, { ':method': 'CONNECT', ':authority': '127.0.0.1:99999' })).toBe(400);
    expect(await status(s, { ':method': 'CONNECT', ':authority': '127.0.0.1:0' })).toBe(400);
    expect(await status(s, { ':method': 'CONNECT', ':authority': '::1:80' })).toBe(400);
    expect(
      await status(s, {
        ':method': 'POST',
        ':path': '/',
        ':authority': `127.0.0.1:${backend.port}`,
      }),
    ).toBe(400);
    // The same session still tunnels.
    const r = s.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${backend.port}` });
    const answered = new Promise((res) => r.once('response', (h) => res(h[':status'])));
    r.end('still works');
    expect(await answered).toBe(200);
    expect((await readAll(r)).toString()).toBe('still works');
    expect(results.slice(0, 6).every((x) => x.status === 400 && !x.hadCtx && x.error)).toBe(true);
    expect(results[0]?.error).toMatchObject({ code: 'AMBIT_HBONE_BAD_REQUEST' });
  });

  it('answers 401 when authorize denies, with the client identity in hand', async () => {
    const backend = await startBackend(f);
    const results: HboneStreamResult[] = [];
    let asked = '';
    const { port } = await startHboneServer(f, {
      authorize: (ctx) => {
        asked = ctx.peerId;
        return Promise.resolve({ deny: 'no policy allows demo/client' });
      },
      onStreamEnd: (_ctx, r) => results.push(r),
    });
    const err = await pool()
      .connect({
        address: { host: '127.0.0.1', port },
        authority: `127.0.0.1:${backend.port}`,
        source: f.client,
        expectedPeers: [f.server.id],
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AMBIT_HBONE_DENIED' });
    expect(asked).toBe(f.client.id);
    expect(results[0]).toMatchObject({ status: 401, error: { code: 'AMBIT_HBONE_DENIED' } });
  });

  it('answers 503 when the dial is refused', async () => {
    const port0 = await closedPort();
    const { port } = await startHboneServer(f);
    const err = await pool()
      .connect({
        address: { host: '127.0.0.1', port },
        authority: `127.0.0.1:${port0}`,
        source: f.client,
        expectedPeers: [f.server.id],
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AMBIT_HBONE_UPSTREAM' });
  });

  it('refuses a client without a certificate', async () => {
    const { port } = await startHboneServer(f);
    const outcome = await rawSession(port, undefined)
      .then(
        (s) => status(s, { ':method': 'CONNECT', ':authority': '127.0.0.1:1' }),
        (e: unknown) => e,
      )
      .catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(Error);
  });

  describe('refuses bad client certificates', () => {
    const cases: [string, () => Promise<{ client: TlsIdentity; serverRoots?: string }>][] = [
      [
        'expired',
        async () => ({
          client: await f.pki.issue('demo', 'client', {
            notBefore: new Date(Date.now() - 7_200_000),
            notAfter: new Date(Date.now() - 3_600_000),
          }),
        }),
      ],
      [
        'not yet valid',
        async () => ({
          client: await f.pki.issue('demo', 'client', {
            notBefore: new Date(Date.now() + 3_600_000),
            ttlMs: 3_600_000,
          }),
        }),
      ],
      [
        'from an untrusted root',
        async () => ({
          client: await (await createTestPki('other.example')).issue('demo', 'client'),
        }),
      ],
      [
        'from a trusted root but another trust domain',
        async () => {
          const other = await createTestPki('other.example');
          return {
            client: await other.issue('demo', 'client'),
            serverRoots: f.server.roots + other.rootCertPem,
          };
        },
      ],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const { client, serverRoots } = await make();
        const backend = await startBackend(f);
        let authorized = 0;
        const { port } = await startHboneServer(f, {
          identity: { ...f.server, roots: serverRoots ?? f.server.roots },
          authorize: () => {
            authorized += 1;
            return Promise.resolve(true);
          },
        });
        // The client trusts the server (its roots include the server's root).
        const source = { ...client, roots: client.roots + f.server.roots };
        const err = await pool()
          .connect({
            address: { host: '127.0.0.1', port },
            authority: `127.0.0.1:${backend.port}`,
            source,
            expectedPeers: [f.server.id],
          })
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'AMBIT_HBONE_CONNECT' });
        expect(authorized).toBe(0);
      });
    }
  });

  it('closes gracefully: GOAWAY, live streams finish, new ones go nowhere', async () => {
    const backend = await startBackend(f);
    const { server, port } = await startHboneServer(f);
    const p = pool();
    const req = {
      address: { host: '127.0.0.1', port },
      authority: `127.0.0.1:${backend.port}`,
      source: f.client,
      expectedPeers: [f.server.id],
    };
    const live = await p.connect(req);
    let closed = false;
    const closing = server.close({ graceMs: 30_000 }).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    const refused = await p.connect(req).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'AMBIT_HBONE_CONNECT' });
    live.end('last words');
    expect((await readAll(live)).toString()).toBe('last words');
    await closing;
    expect(closed).toBe(true);
  });
});

describe('HBONE server, dial resolving a stream taker', () => {
  it('hands the CONNECT stream itself to the taker after the 200', async () => {
    const ends: HboneStreamResult[] = [];
    const { port } = await startHboneServer(f, {
      onStreamEnd: (_ctx, r) => ends.push(r),
      dial: (ctx) =>
        Promise.resolve({
          takeStream: (stream) => {
            // An in-process endpoint: answers with what it read, prefixed by the :authority.
            void readAll(stream).then((b) => stream.end(`${ctx.authority} got ${b.toString()}`));
          },
        }),
    });
    const tunnel = await pool().connect({
      address: { host: '127.0.0.1', port },
      authority: '10.0.0.9:80',
      source: f.client,
      expectedPeers: [f.server.id],
    });
    const reply = readAll(tunnel);
    tunnel.end('hello');
    expect((await reply).toString()).toBe('10.0.0.9:80 got hello');
    const deadline = Date.now() + 2000;
    while (ends.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(ends.map((r) => r.status)).toEqual([200]);
  });
});
