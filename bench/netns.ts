// Native addon benchmark: the cost of one setns round trip and of creating sockets inside another
// network namespace (what ztunnel pays per in-pod listener and per outbound connection dialled
// from a pod). Root only. Run: scripts/with-toolchain node bench/netns.ts [scale]
import { closeSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { enterNetns, socketInNetns, ZTUNNEL_MARK } from '../packages/netns/src/index.ts';
import { createTempNetns } from '../packages/netns/src/testing/temp-netns.ts';

const scale = Number(process.argv[2] ?? '1');
const n = (base: number) => Math.max(1, Math.round(base * scale));

const ns = createTempNetns();
const rows: { what: string; iterations: number; opsPerSec: number; usPerOp: number }[] = [];

function measure(what: string, iterations: number, fn: () => void): void {
  for (let i = 0; i < Math.min(1000, iterations); i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const ns_ = Number(process.hrtime.bigint() - start);
  rows.push({
    what,
    iterations,
    opsPerSec: Math.round((iterations * 1e9) / ns_),
    usPerOp: ns_ / iterations / 1000,
  });
}

try {
  measure('enterNetns (open ×2, setns there and back)', n(20_000), () => enterNetns(ns.path));
  measure('socketInNetns own netns, unconnected + close', n(20_000), () =>
    closeSync(socketInNetns('/proc/self/ns/net', { family: 4 })),
  );
  measure('socketInNetns pod netns, unconnected + close', n(20_000), () =>
    closeSync(socketInNetns(ns.path, { family: 4 })),
  );
  measure('socketInNetns pod netns, marked + transparent + close', n(20_000), () =>
    closeSync(socketInNetns(ns.path, { family: 4, mark: ZTUNNEL_MARK, transparent: true })),
  );
  measure('socketInNetns pod netns, listen 127.0.0.1:0 + close', n(5_000), () =>
    closeSync(socketInNetns(ns.path, { family: 4, listen: { address: '127.0.0.1', port: 0 } })),
  );
} finally {
  ns.remove();
}

const cpu = cpus()[0]?.model.split(' ').slice(0, 2).join(' ') ?? 'unknown CPU';
console.log(
  `netns addon benchmark — node ${process.version}, ${availableParallelism()} CPU(s) (${cpu}), scale ${scale}`,
);
const w = Math.max(...rows.map((r) => r.what.length));
console.log(`| ${'operation'.padEnd(w)} | iterations |     ops/s |    µs/op |`);
console.log(`| ${'-'.repeat(w)} | ---------: | --------: | -------: |`);
for (const r of rows) {
  console.log(
    `| ${r.what.padEnd(w)} | ${String(r.iterations).padStart(10)} | ${String(r.opsPerSec).padStart(9)} | ${r.usPerOp.toFixed(1).padStart(8)} |`,
  );
}
