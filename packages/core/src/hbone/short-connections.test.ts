// Regression: many short TCP connections through a full tunnel (plain TCP → HbonePool → HBONE
// server → TCP backend), the way `wrk -H 'Connection: close'` drives it. Each connection must get
// its whole answer and end cleanly, and the shared HTTP/2 session must survive them all. (A clean
// close used to end with RST_STREAM(NO_ERROR) from both ends; the server's rapid-reset limit —
// nghttp2's 1000-burst token bucket — then killed the session with GOAWAY, taking every live
// connection with it.)
import { constants as h2, createSecureServer, type ServerHttp2Stream } from 'node:http2';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dialTcp } from './dial-tcp.ts';
import { pipeBidirectional, resetDuplex, type PipeResult } from './pipe.ts';
import { HbonePool } from './pool.ts';
import type { HboneStreamResult } from './server.ts';
import {
  closeAll,
  createFixture,
  readAll,
  startBackend,
  startHboneServer,
  until,
  type Fixture,
} from './test-fixtures.ts';
import { serverTlsOptions } from './tls-config.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

/** More than nghttp2's default reset burst (1000), so a reset per clean close would trip it. */
const CONNECTIONS = 1200;
const CONCURRENCY = 32;

/**
 * A bare HTTP/2 CONNECT server with Node's stock settings — nghttp2's default rapid-reset limit
 * (a burst of 1000 RST_STREAMs, then 33/s) — standing for any HBONE peer that keeps it.
 */
async function startStockServer(): Promise<number> {
  const server = createSecureServer({
    ...serverTlsOptions(f.server),
    settings: { maxConcurrentStreams: 1000 },
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    stream.on('error', () => {});
    const [host, port] = String(headers[h2.HTTP2_HEADER_AUTHORITY]).split(':');
    dialTcp({ host: host ?? '', port: Number(port) }).then(
      (upstream) => {
        if (stream.destroyed) {
          upstream.destroy();
          return;
        }
        stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
        void pipeBidirectional(stream, upstream);
      },
      () => stream.close(h2.NGHTTP2_REFUSED_STREAM),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** The client half of a tunnel pair: accepts plain TCP and tunnels each connection to `hbonePort`
 * (default: a fresh HboneServer). */
async function startTunnel(
  onServerStreamEnd: (r: HboneStreamResult) => void,
  port: number,
  hbonePort?: number,
) {
  hbonePort ??= (
    await startHboneServer(f, {
      onStreamEnd: (_ctx, r) => onServerStreamEnd(r),
    })
  ).port;
  const pool = new HbonePool();
  const clientSide: PipeResult[] = [];
  const listener = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
    socket.on('error', () => {});
    pool
      .connect({
        address: { host: '127.0.0.1', port: hbonePort },
        authority: `127.0.0.1:${port}`,
        source: f.client,
        expectedPeers: [f.server.id],
      })
      .then(
        async (stream) => clientSide.push(await pipeBidirectional(socket, stream)),
        () => resetDuplex(socket),
      );
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  f.cleanups.push(
    () => pool.close({ graceMs: 0 }),
    () => new Promise<void>((r) => listener.close(() => r())),
  );
  const addr = listener.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, pool, clientSide };
}

/** One short connection: connect, `talk`, read until FIN; resolves with what was read or the error. */
function exchange(port: number, talk: (s: Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.once('error', (err) => resolve(`error: ${err.message}`));
    s.once('connect', () => talk(s));
    readAll(s).then(
      (b) => {
        s.end();
        resolve(b.toString());
      },
      () => undefined,
    );
  });
}

/** Runs `n` exchanges, `CONCURRENCY` at a time; returns every answer in order. */
async function runMany(n: number, one: (i: number) => Promise<string>): Promise<string[]> {
  const answers: string[] = new Array<string>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      answers[i] = await one(i);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return answers;
}

describe('short connections through an HBONE tunnel', () => {
  it('backend answers and closes at once (HTTP Connection: close): every client gets the whole answer', async () => {
    const backend = await startBackend(f, (s) => {
      s.once('data', (req: Buffer) => s.end(`answer to ${req.toString()}`));
    });
    const server: HboneStreamResult[] = [];
    const t = await startTunnel((r) => server.push(r), backend.port);

    const answers = await runMany(CONNECTIONS, (i) =>
      exchange(t.port, (s) => s.write(`request ${i}`)),
    );

    answers.forEach((a, i) => expect(a).toBe(`answer to request ${i}`));
    await until(() => server.length === CONNECTIONS && t.clientSide.length === CONNECTIONS);
    expect(server.filter((r) => r.error).map((r) => r.error?.message)).toEqual([]);
    expect(t.clientSide.filter((r) => r.error).map((r) => r.error?.message)).toEqual([]);
    expect(t.pool.stats().sessions).toBe(1); // the session outlived every connection
  });

  it('client sends and half-closes first, backend answers after reading everything: nothing is lost', async () => {
    const backend = await startBackend(f, (s) => {
      void readAll(s).then((req) => s.end(`answer to ${req.toString()}`));
    });
    const server: HboneStreamResult[] = [];
    const t = await startTunnel((r) => server.push(r), backend.port);

    const answers = await runMany(CONNECTIONS, (i) =>
      exchange(t.port, (s) => s.end(`request ${i}`)),
    );

    answers.forEach((a, i) => expect(a).toBe(`answer to request ${i}`));
    await until(() => server.length === CONNECTIONS && t.clientSide.length === CONNECTIONS);
    expect(server.filter((r) => r.error).map((r) => r.error?.message)).toEqual([]);
    expect(t.clientSide.filter((r) => r.error).map((r) => r.error?.message)).toEqual([]);
    expect(t.pool.stats().sessions).toBe(1);
  });

  it('a clean close sends no RST_STREAM: a server with the stock reset limit keeps the session', async () => {
    const backend = await startBackend(f, (s) => {
      s.once('data', (req: Buffer) => s.end(`answer to ${req.toString()}`));
    });
    const t = await startTunnel(() => {}, backend.port, await startStockServer());

    const answers = await runMany(CONNECTIONS, (i) =>
      exchange(t.port, (s) => s.write(`request ${i}`)),
    );

    answers.forEach((a, i) => expect(a).toBe(`answer to request ${i}`));
    await until(() => t.clientSide.length === CONNECTIONS);
    expect(t.clientSide.filter((r) => r.error).map((r) => r.error?.message)).toEqual([]);
    expect(t.pool.stats().sessions).toBe(1);
  });
});
