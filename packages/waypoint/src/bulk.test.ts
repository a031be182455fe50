import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './testing/harness.ts';

const GiB = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;
// The stream's byte k is PATTERN[k % PERIOD]: random, and the period is not a multiple of the
// chunk size, so a lost, repeated or reordered chunk shows. Checked with memcmp as bytes arrive
// (hashing 1 GiB three times cost more CPU than the waypoint's share of the transfer).
const PERIOD = CHUNK + 4093;
const half = randomBytes(PERIOD);
const PATTERN = Buffer.concat([half, half]);

function source(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      const n = Math.min(bytes - sent, CHUNK);
      const at = sent % PERIOD;
      sent += n;
      this.push(PATTERN.subarray(at, at + n));
    },
  });
}

/** Counts the bytes and checks each against the pattern; `firstBad` is the offset of the first wrong one. */
async function verify(s: AsyncIterable<Buffer>): Promise<{ bytes: number; firstBad?: number }> {
  let bytes = 0;
  for await (const c of s) {
    for (let off = 0; off < c.length;) {
      const at = (bytes + off) % PERIOD;
      const n = Math.min(c.length - off, PERIOD - at);
      if (!c.subarray(off, off + n).equals(PATTERN.subarray(at, at + n)))
        return { bytes: bytes + off, firstBad: bytes + off };
      off += n;
    }
    bytes += c.length;
  }
  return { bytes };
}

describe('waypoint bulk streaming', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.addPod({
      name: 'bulk',
      handler: (req, res) => {
        if (req.method === 'POST') {
          void verify(req).then((r) => res.end(JSON.stringify(r)));
          return;
        }
        source(GiB).pipe(res);
      },
    });
    h.setMesh({ bulk: ['bulk'] });
  });
  afterAll(async () => h.close());

  it(
    'streams a 1 GiB upload and a 1 GiB download intact with bounded memory',
    { timeout: 180_000 },
    async () => {
      const c = h.http1('bulk');
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      try {
        const up = await c.request({ path: '/up', method: 'POST', body: source(GiB) });
        expect(up.statusCode).toBe(200);
        expect(JSON.parse(await up.body.text())).toEqual({ bytes: GiB });
        const down = await c.request({ path: '/down', method: 'GET' });
        expect(down.statusCode).toBe(200);
        expect(await verify(down.body)).toEqual({ bytes: GiB });
      } finally {
        clearInterval(timer);
      }
      // Client, waypoint, both HBONE hops and the backend share this process: still far below 1 GiB.
      expect(peak - rss0).toBeLessThan(200 * 1024 * 1024);
    },
  );
});
