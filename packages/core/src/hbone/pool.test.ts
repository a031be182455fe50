import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { createTestPki } from '../testing/pki.ts';
import { HbonePool, type HboneDialRequest, type HbonePoolOptions } from './pool.ts';
import {
  closeAll,
  createFixture,
  readAll,
  startBackend,
  startHboneServer,
  startRelay,
  until,
  type Fixture,
} from './test-fixtures.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

function pool(opts: HbonePoolOptions = {}): HbonePool {
  const p = new HbonePool({ connectTimeoutMs: 5_000, ...opts });
  f.cleanups.push(() => p.close({ graceMs: 0 }));
  return p;
}

async function echo(stream: Duplex, msg: string): Promise<string> {
  stream.end(msg);
  return (await readAll(stream)).toString();
}

async function setup(server: Partial<Parameters<typeof startHboneServer>[1]> = {}) {
  const backend = await startBackend(f);
  const { port } = await startHboneServer(f, server);
  const req = (over: Partial<HboneDialRequest> = {}): HboneDialRequest => ({
    address: { host: '127.0.0.1', port },
    authority: `127.0.0.1:${backend.port}`,
    source: f.client,
    expectedPeers: [f.server.id],
    ...over,
  });
  return { port, backendPort: backend.port, req };
}

describe('HBONE pool', () => {
  it('carries 1,000 concurrent streams on ~10 sessions, all echoing correctly', async () => {
    const { req } = await setup();
    const p = pool();
    const streams = await Promise.all(Array.from({ length: 1000 }, () => p.connect(req())));
    expect(p.stats()).toEqual({ sessions: 10, streams: 1000 });
    const replies = await Promise.all(streams.map((s, i) => echo(s, `message ${i}`)));
    replies.forEach((r, i) => expect(r).toBe(`message ${i}`));
  });

  it('refuses a server whose URI SAN is not the expected one', async () => {
    const { req } = await setup();
    const err = await pool()
      .connect(
        req({ expectedPeers: ['spiffe://cluster.local/ns/demo/sa/someone-else' as SpiffeId] }),
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AMBIT_HBONE_PEER_IDENTITY' });
  });

  describe('refuses bad server certificates', () => {
    const hourAgo = (): Date => new Date(Date.now() - 3_600_000);
    const cases: [string, string, () => Promise<{ server: TlsIdentity; clientRoots?: string }>][] =
      [
        [
          'expired',
          'AMBIT_HBONE_CONNECT',
          async () => ({
            server: await f.pki.issue('demo', 'server', {
              notBefore: new Date(Date.now() - 7_200_000),
              notAfter: hourAgo(),
            }),
          }),
        ],
        [
          'not yet valid',
          'AMBIT_HBONE_CONNECT',
          async () => ({
            server: await f.pki.issue('demo', 'server', {
              notBefore: new Date(Date.now() + 3_600_000),
              ttlMs: 3_600_000,
            }),
          }),
        ],
        [
          'from an untrusted root',
          'AMBIT_HBONE_CONNECT',
          async () => ({
            server: await (await createTestPki('other.example')).issue('demo', 'server'),
          }),
        ],
        [
          'from a trusted root but another trust domain',
          'AMBIT_HBONE_PEER_IDENTITY',
          async () => {
            const other = await createTestPki('other.example');
            return {
              server: await other.issue('demo', 'server'),
              clientRoots: f.client.roots + other.rootCertPem,
            };
          },
        ],
      ];
    for (const [name, code, make] of cases) {
      it(name, async () => {
        const { server, clientRoots } = await make();
        // The server trusts our client; only its own certificate is wrong.
        const { req } = await setup({
          identity: { ...server, roots: server.roots + f.client.roots },
        });
        const source = { ...f.client, roots: clientRoots ?? f.client.roots };
        const err = await pool()
          .connect(req({ source }))
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code });
      });
    }
  });

  it('releases idle sessions', async () => {
    const { req } = await setup();
    const p = pool({ idleSessionTimeoutMs: 100 });
    expect(await echo(await p.connect(req()), 'x')).toBe('x');
    expect(p.stats().sessions).toBe(1);
    await until(() => p.stats().sessions === 0);
  });

  it('never reuses a broken session: the next connect opens a new one', async () => {
    const { port, backendPort } = await setup();
    const relay = await startRelay(f, port);
    const p = pool();
    const req: HboneDialRequest = {
      address: { host: '127.0.0.1', port: relay.port },
      authority: `127.0.0.1:${backendPort}`,
      source: f.client,
      expectedPeers: [f.server.id],
    };
    const first = await p.connect(req);
    first.on('error', () => {});
    first.write('before');
    relay.cut(); // the server "dies": TCP RST, no GOAWAY
    await new Promise((r) => first.once('close', r));
    expect(await echo(await p.connect(req), 'after')).toBe('after');
    expect(relay.accepted()).toBe(2);
  });

  it('drops a session whose peer stops answering H2 PING', async () => {
    const { port, backendPort } = await setup();
    const relay = await startRelay(f, port);
    const p = pool({ pingIntervalMs: 100 });
    const stream = await p.connect({
      address: { host: '127.0.0.1', port: relay.port },
      authority: `127.0.0.1:${backendPort}`,
      source: f.client,
      expectedPeers: [f.server.id],
    });
    stream.on('error', () => {});
    relay.freeze();
    await new Promise((r) => stream.once('close', r));
    await until(() => p.stats().sessions === 0);
  });

  it('keeps one set of sessions per source address, bound to it: the server sees the source IP', async () => {
    const remotes: string[] = [];
    const { req } = await setup({
      authorize: (ctx) => {
        remotes.push(ctx.remote.address);
        return Promise.resolve(true);
      },
    });
    const p = pool();
    const a1 = await p.connect(req({ sourceAddress: '127.0.0.2' }));
    const b = await p.connect(req({ sourceAddress: '127.0.0.3' }));
    const a2 = await p.connect(req({ sourceAddress: '127.0.0.2' }));
    expect(p.stats()).toEqual({ sessions: 2, streams: 3 });
    expect(remotes).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.2']);
    expect(await echo(a1, 'a1')).toBe('a1');
    expect(await echo(b, 'b')).toBe('b');
    expect(await echo(a2, 'a2')).toBe('a2');
    // No source address: a session of its own, from the default local address.
    expect(await echo(await p.connect(req()), 'none')).toBe('none');
    expect(p.stats().sessions).toBe(3);
    expect(remotes[3]).toBe('127.0.0.1');
  });

  it('hands the source address to a custom createSocket', async () => {
    const { req } = await setup();
    const seen: { sourceAddress?: string }[] = [];
    const p = pool({
      createSocket: (a, source) => {
        seen.push(source);
        return connect({ host: a.host, port: a.port, localAddress: source.sourceAddress });
      },
    });
    expect(await echo(await p.connect(req({ sourceAddress: '127.0.0.4' })), 'x')).toBe('x');
    expect(seen).toEqual([{ sourceAddress: '127.0.0.4' }]);
  });

  it('moves new streams to a new session when the source certificate rotates', async () => {
    const { req } = await setup();
    const p = pool();
    const old = await p.connect(req());
    old.write('old ');
    const rotated = await f.pki.issue('demo', 'client'); // same SPIFFE ID, new key and chain
    expect(rotated.id).toBe(f.client.id);
    const fresh = await p.connect(req({ source: rotated }));
    expect(p.stats()).toEqual({ sessions: 2, streams: 2 });
    expect(await echo(fresh, 'new')).toBe('new');
    // The live stream on the old session is untouched…
    expect(await echo(old, 'stream')).toBe('old stream');
    // …and the old session goes away once its last stream ended.
    await until(() => p.stats().sessions === 1);
    expect(await echo(await p.connect(req({ source: rotated })), 'again')).toBe('again');
    expect(p.stats().sessions).toBe(1);
  });
});
