// Focused throughput script for the waypoint's bulk path (profile with
// `node --cpu-prof bench/waypoint-bulk.ts [MiB]`): client → HBONE → waypoint → HBONE → pod, all in
// this process (as bulk.test.ts), one upload and one download of N MiB, no hashing.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startHarness } from '../packages/waypoint/src/testing/harness.ts';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 512) * MiB;
const CHUNK = Buffer.alloc(MiB, 7);

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

async function drain(s: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of s) n += c.length;
  return n;
}

const h = await startHarness();
await h.addPod({
  name: 'bulk',
  handler: (req, res) => {
    if (req.method === 'POST') return void drain(req).then((n) => res.end(String(n)));
    void pipeline(source(size), res).catch(() => {});
  },
});
h.setMesh({ bulk: ['bulk'] });
// DIRECT=1: the same client straight to the pod over one HBONE hop (no waypoint), for comparison.
const c = h.http1('bulk', process.env.DIRECT === '1' ? { direct: 'bulk' } : {});
const rate = (bytes: number, ms: number) => `${((bytes * 8) / ms / 1e6).toFixed(2)} Gbit/s`;
let t = performance.now();
const up = await c.request({ path: '/up', method: 'POST', body: source(size) });
const got = Number(await up.body.text());
const upMs = performance.now() - t;
t = performance.now();
const down = await c.request({ path: '/down', method: 'GET' });
const n = await drain(down.body);
const downMs = performance.now() - t;
console.log(
  JSON.stringify({
    MiB: size / MiB,
    upload: { bytes: got, ms: Math.round(upMs), rate: rate(got, upMs) },
    download: { bytes: n, ms: Math.round(downMs), rate: rate(n, downMs) },
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
await h.close();
