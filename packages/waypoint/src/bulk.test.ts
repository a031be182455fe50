import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './testing/harness.ts';

const GiB = 1024 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 7);

function source(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

async function sha(s: AsyncIterable<Buffer>): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of s) {
    h.update(c);
    bytes += c.length;
  }
  return { hash: h.digest('hex'), bytes };
}

describe('waypoint bulk streaming', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.addPod({
      name: 'bulk',
      handler: (req, res) => {
        if (req.method === 'POST') {
          void sha(req).then((r) => res.end(JSON.stringify(r)));
          return;
        }
        source(GiB).pipe(res);
      },
    });
    h.setMesh({ bulk: ['bulk'] });
  });
  afterAll(async () => h.close());

  it(
    'streams a 1 GiB upload and a 1 GiB download with bounded memory',
    { timeout: 180_000 },
    async () => {
      const expected = await sha(source(GiB));
      const c = h.http1('bulk');
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      try {
        const up = await c.request({ path: '/up', method: 'POST', body: source(GiB) });
        expect(up.statusCode).toBe(200);
        expect(JSON.parse(await up.body.text())).toEqual(expected);
        const down = await c.request({ path: '/down', method: 'GET' });
        expect(down.statusCode).toBe(200);
        expect(await sha(down.body)).toEqual(expected);
      } finally {
        clearInterval(timer);
      }
      // Client, waypoint, both HBONE hops and the backend share this process: still far below 1 GiB.
      expect(peak - rss0).toBeLessThan(200 * 1024 * 1024);
    },
  );
});
