// Shared set-up for the HBONE test suites (not a test file itself): a test CA, identities, a TCP
// echo backend and an HBONE server, all on 127.0.0.1 port 0, cleaned up by `closeAll`.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { dialTcp } from './dial-tcp.ts';
import { HboneServer, type HboneServerOptions } from './server.ts';

export interface Fixture {
  pki: TestPki;
  client: TlsIdentity;
  server: TlsIdentity;
  cleanups: (() => Promise<unknown> | void)[];
}

export async function createFixture(): Promise<Fixture> {
  const pki = await createTestPki();
  const [client, server] = await Promise.all([
    pki.issue('demo', 'client'),
    pki.issue('demo', 'server'),
  ]);
  return { pki, client, server, cleanups: [] };
}

export async function closeAll(f: Fixture): Promise<void> {
  const fns = f.cleanups.splice(0).reverse();
  for (const fn of fns) await fn();
}

export interface TcpBackend {
  port: number;
  server: Server;
  sockets: Set<Socket>;
}

/** A TCP server on 127.0.0.1:0 (half-open allowed); `onSocket` defaults to echo. */
export async function startBackend(
  f: Fixture,
  onSocket: (s: Socket) => void = (s) => s.pipe(s),
): Promise<TcpBackend> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server, sockets };
}

/** An HBONE server that allows everyone and dials the :authority over TCP, unless overridden. */
export async function startHboneServer(
  f: Fixture,
  over: Partial<HboneServerOptions> = {},
): Promise<{ server: HboneServer; port: number }> {
  const server = new HboneServer({
    identity: f.server,
    trustDomain: f.pki.trustDomain,
    authorize: () => Promise.resolve(true),
    dial: (ctx, signal) => dialTcp(ctx.target, signal),
    ...over,
  });
  const { port } = await server.listen();
  f.cleanups.push(() => server.close({ graceMs: 0 }));
  return { server, port };
}

const connectTcp = (port: number): Socket =>
  connect({ host: '127.0.0.1', port, allowHalfOpen: true });

export const idOf = (i: TlsIdentity): SpiffeId => i.id;

/** Collects a readable's bytes until it ends. */
export function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
    s.resume();
  });
}

/** A TCP relay in front of `port`, so a test can cut live connections (like a killed peer). */
export async function startRelay(
  f: Fixture,
  port: number,
): Promise<{ port: number; accepted: () => number; cut: () => void; freeze: () => void }> {
  let accepted = 0;
  const pairs = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (inbound) => {
    accepted += 1;
    const outbound = connectTcp(port);
    for (const s of [inbound, outbound]) {
      pairs.add(s);
      s.on('error', () => {});
      s.once('close', () => pairs.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of pairs) s.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    accepted: () => accepted,
    cut: () => {
      for (const s of pairs) s.resetAndDestroy();
    },
    /** Stops forwarding in both directions without closing anything (a silent network). */
    freeze: () => {
      for (const s of pairs) {
        s.unpipe();
        s.pause();
      }
    },
  };
}

/** Polls `cond` every 10 ms until true (a bounded wait for an asynchronous effect, not a timing assertion). */
export async function until(cond: () => boolean, maxMs = 5_000): Promise<void> {
  const end = Date.now() + maxMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
