import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { HbonePool } from './pool.ts';
import {
  closeAll,
  createFixture,
  startBackend,
  startHboneServer,
  type Fixture,
} from './test-fixtures.ts';

let f: Fixture;
beforeEach(async () => {
  f = await createFixture();
});
afterEach(() => closeAll(f));

const GiB = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** 1 GiB of non-repeating-per-chunk bytes, produced lazily (never held whole), hashed as it goes. */
function* generate(sent: ReturnType<typeof createHash>): Generator<Buffer> {
  const base = randomBytes(CHUNK);
  for (let i = 0; i < GiB / CHUNK; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32BE(i, (i * 4099) % (CHUNK - 4));
    sent.update(chunk);
    yield chunk;
  }
}

it('carries 1 GiB through one stream intact', async () => {
  let received: Promise<{ digest: string; bytes: number }> | undefined;
  const backend = await startBackend(f, (s) => {
    received = new Promise((resolve, reject) => {
      const h = createHash('sha256');
      let bytes = 0;
      s.on('data', (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      s.once('end', () => {
        s.end();
        resolve({ digest: h.digest('hex'), bytes });
      });
      s.once('error', reject);
    });
  });
  const { port } = await startHboneServer(f);
  const pool = new HbonePool();
  f.cleanups.push(() => pool.close({ graceMs: 0 }));
  const stream = await pool.connect({
    address: { host: '127.0.0.1', port },
    authority: `127.0.0.1:${backend.port}`,
    source: f.client,
    expectedPeers: [f.server.id],
  });
  stream.resume(); // the backend answers nothing but its FIN
  const sent = createHash('sha256');
  await pipeline(Readable.from(generate(sent)), stream);
  const got = await received;
  expect(got?.bytes).toBe(GiB);
  expect(got?.digest).toBe(sent.digest('hex'));
}, 60_000);
