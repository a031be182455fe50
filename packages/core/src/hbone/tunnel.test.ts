import { constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HbonePool, tunnelInfo } from './pool.ts';
import type { HboneRequestContext, HboneStreamResult } from './server.ts';
import {
  closeAll,
  createFixture,
  readAll,
  startBackend,
  startHboneServer,
  until,
  type Fixture,
} from './test-fixtures.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

async function tunnelTo(
  onSocket?: (s: Socket) => void,
): Promise<{ stream: Duplex; results: HboneStreamResult[] }> {
  const backend = await startBackend(f, onSocket);
  const results: HboneStreamResult[] = [];
  const { port } = await startHboneServer(f, { onStreamEnd: (_ctx, r) => results.push(r) });
  const pool = new HbonePool();
  f.cleanups.push(() => pool.close({ graceMs: 0 }));
  const stream = await pool.connect({
    address: { host: '127.0.0.1', port },
    authority: `127.0.0.1:${backend.port}`,
    source: f.client,
    expectedPeers: [f.server.id],
  });
  stream.on('error', () => {});
  return { stream, results };
}

/** Writes 64 KiB chunks until the writer has had no 'drain' for 300 ms (or the cap); returns bytes accepted. */
async function writeUntilStalled(w: NodeJS.WritableStream, cap: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let written = 0;
  while (written < cap) {
    written += chunk.length;
    if (!w.write(chunk)) {
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          w.off('drain', onDrain);
          resolve(false);
        }, 300);
        const onDrain = (): void => {
          clearTimeout(t);
          resolve(true);
        };
        w.once('drain', onDrain);
      });
      if (!drained) return written;
    }
  }
  return written;
}

const MiB = 1024 * 1024;

describe('HBONE tunnel', () => {
  it('echoes through a tunnel with both identities verified and headers delivered', async () => {
    const backend = await startBackend(f);
    const seen: HboneRequestContext[] = [];
    const { port } = await startHboneServer(f, {
      authorize: (ctx) => {
        seen.push(ctx);
        return Promise.resolve(true);
      },
    });
    const pool = new HbonePool();
    f.cleanups.push(() => pool.close({ graceMs: 0 }));
    const stream = await pool.connect({
      address: { host: '127.0.0.1', port },
      authority: `127.0.0.1:${backend.port}`,
      source: f.client,
      expectedPeers: [f.server.id],
      headers: {
        forwarded: 'for="10.0.0.1:1234"',
        baggage: 'k8s.namespace.name=demo',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    });
    expect(tunnelInfo(stream)).toEqual({ peerId: f.server.id, tlsVersion: 'TLSv1.3', alpn: 'h2' });
    stream.end('hello hbone');
    expect((await readAll(stream)).toString()).toBe('hello hbone');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.peerId).toBe(f.client.id);
    expect(seen[0]?.target).toEqual({ host: '127.0.0.1', port: backend.port });
    expect(seen[0]?.forwarded).toBe('for="10.0.0.1:1234"');
    expect(seen[0]?.baggage).toBe('k8s.namespace.name=demo');
    expect(seen[0]?.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('client half-close reaches the upstream as FIN while the upstream can still answer', async () => {
    const { stream, results } = await tunnelTo((s) => {
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      s.once('end', () => s.end(`got ${Buffer.concat(got).toString()} then FIN`));
    });
    stream.end('question');
    expect((await readAll(stream)).toString()).toBe('got question then FIN');
    await until(() => results.length === 1);
    expect(results[0]).toMatchObject({ status: 200, bytesFromClient: 8, bytesToClient: 21 });
    expect(results[0]?.error).toBeUndefined();
  });

  it('upstream half-close reaches the client as end while the client can still send', async () => {
    let upstreamGot: Promise<Buffer> | undefined;
    const { stream } = await tunnelTo((s) => {
      upstreamGot = readAll(s);
      s.end('bye from upstream');
    });
    const received = await readAll(stream); // client saw end…
    expect(received.toString()).toBe('bye from upstream');
    stream.end('client still talking'); // …and can still send
    await until(() => upstreamGot !== undefined);
    expect((await upstreamGot)?.toString()).toBe('client still talking');
  });

  it('an upstream reset mid-stream resets the client stream (RST_STREAM, never a clean end)', async () => {
    const { stream, results } = await tunnelTo((s) => {
      s.write('partial');
      s.once('data', () => s.resetAndDestroy());
    });
    let ended = false;
    stream.on('end', () => (ended = true));
    stream.resume();
    stream.write('poke');
    await new Promise((r) => stream.once('close', r));
    expect(ended).toBe(false);
    expect((stream as Duplex & { rstCode?: number }).rstCode).toBe(h2.NGHTTP2_INTERNAL_ERROR);
    await until(() => results.length === 1);
    expect(results[0]?.error).toBeDefined();
  });

  it('a client reset destroys the upstream socket with a TCP RST', async () => {
    let upstreamError: NodeJS.ErrnoException | undefined;
    let upstreamClosed = false;
    const { stream } = await tunnelTo((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => (upstreamError = e));
      s.once('close', () => (upstreamClosed = true));
      s.write('ready');
    });
    await new Promise((r) => stream.once('data', r));
    stream.destroy();
    await until(() => upstreamClosed);
    expect(upstreamError?.code).toBe('ECONNRESET');
  });

  it('a slow upstream reader bounds what the client can buffer (backpressure client → upstream)', async () => {
    let upstream: Socket | undefined;
    const { stream } = await tunnelTo((s) => {
      upstream = s;
      s.pause();
    });
    const written = await writeUntilStalled(stream, 256 * MiB);
    // Without backpressure the writer would reach the cap; windows + socket buffers bound it.
    expect(written).toBeLessThan(64 * MiB);
    let received = 0;
    upstream?.on('data', (c: Buffer) => (received += c.length));
    upstream?.resume();
    stream.end();
    await until(() => received === written);
  });

  it('a slow client reader bounds what the upstream can push (backpressure upstream → client)', async () => {
    let pushed: Promise<number> | undefined;
    const { stream } = await tunnelTo((s) => {
      pushed = writeUntilStalled(s, 256 * MiB).then((n) => {
        s.end();
        return n;
      });
    });
    stream.pause();
    await until(() => pushed !== undefined);
    const written = (await pushed) ?? 0;
    expect(written).toBeLessThan(64 * MiB);
    const all = await readAll(stream);
    expect(all.length).toBe(written);
  });
});
