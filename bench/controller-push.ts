// Controller push benchmark (in-process, real sockets): one controller 15012 (TLS 1.3 + HTTP/2) and
// N real config-stream clients (core's ConfigStreamClient) in this process, a store of W workloads
// and S services. Measures, for C one-pod changes published one after another, the time from the
// publish to the ACK of every subscriber (p50/p99/max), with the production debounce (100 ms
// window) and without (0 ms: the push itself), plus the bytes of a full snapshot and of a
// one-pod delta.
// Run: scripts/with-toolchain node bench/controller-push.ts [subscribers=50] [changes=200] [workloads=1000] [services=200]
// Clients and server share this process (and the machine's 2 cores): an upper bound on the
// server's own cost.

import { cpus } from 'node:os';
import { createLogger } from '../packages/core/src/log.ts';
import type { Workload } from '../packages/core/src/mesh/types.ts';
import { ConfigStore } from '../packages/controller/src/stream/config-store.ts';
import {
  seed,
  startTestController,
  workload,
} from '../packages/controller/src/stream/test-harness.ts';

const [subscribers = 50, changes = 200, workloads = 1000, services = 200] = process.argv
  .slice(2)
  .map(Number);

interface Run {
  debounceMs: number;
  ms: number[];
  snapshotBytes: Record<string, number>;
  deltaBytes: number;
  rssMb: number;
  cpuMsPerChange: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function run(debounceMs: number): Promise<Run> {
  const store = new ConfigStore();
  seed(store, workloads, services);
  let waiting: { version: number; left: Set<number>; done: () => void } | undefined;
  const c = await startTestController({
    store,
    debounceMs,
    maxDelayMs: 1000,
    log: createLogger({ level: 'error', out: { write: () => true } }),
    onAck: ({ subscriber, type, version }) => {
      if (type !== 'Workload') return;
      if (waiting !== undefined && version >= waiting.version) {
        waiting.left.delete(subscriber);
        if (waiting.left.size === 0) waiting.done();
      }
    },
  });
  try {
    const clients = Array.from({ length: subscribers }, (_, i) =>
      // No update log: a recorded update holds a whole copy of the set.
      c.client(
        `ztunnel:node-${i}`,
        `node-${i}`,
        ['Workload', 'Service', 'Authorization', 'MeshConfig'],
        { onUpdate: () => {} },
      ),
    );
    await Promise.all(clients.map((x) => x.client.ready()));
    const snapshotBytes: Record<string, number> = {};
    for (const type of ['Workload', 'Service', 'Authorization', 'MeshConfig']) {
      snapshotBytes[type] =
        (await c.metric('ambit_controller_config_bytes_total', { type, mode: 'snapshot' })) /
        subscribers;
    }
    const ids = c.stream.subscribers().map((s) => s.id);
    const ms: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < changes; i++) {
      const w: Workload = workload(i % workloads, { canonicalRevision: `r${i}` });
      const t0 = performance.now();
      const done = new Promise<void>((resolve) => {
        waiting = { version: store.version('Workload') + 1, left: new Set(ids), done: resolve };
      });
      store.publish('Workload', { changed: new Map([[w.uid as string, w]]), removed: new Set() });
      await done;
      ms.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    const deltas = await c.metric('ambit_controller_config_pushes_total', {
      type: 'Workload',
      mode: 'delta',
    });
    const deltaBytes =
      (await c.metric('ambit_controller_config_bytes_total', { type: 'Workload', mode: 'delta' })) /
      deltas;
    return {
      debounceMs,
      ms,
      snapshotBytes,
      deltaBytes,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      cpuMsPerChange: (cpu.user + cpu.system) / 1000 / changes,
    };
  } finally {
    await c.close();
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `Controller push — node ${process.version}, ${cpus().length} CPU(s) (${cpu}); ${subscribers} subscribers, ${workloads} workloads, ${services} services, ${changes} one-pod changes`,
);
console.log(
  '| debounce | p50 ms | p99 ms | max ms | CPU ms/change (all clients + server) | RSS MB |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
let last: Run | undefined;
for (const debounceMs of [100, 0]) {
  const r = await run(debounceMs);
  const s = [...r.ms].sort((a, b) => a - b);
  console.log(
    `| ${debounceMs} ms | ${pct(s, 50).toFixed(1)} | ${pct(s, 99).toFixed(1)} | ${(s.at(-1) ?? NaN).toFixed(1)} | ${r.cpuMsPerChange.toFixed(1)} | ${r.rssMb.toFixed(0)} |`,
  );
  last = r;
}
if (last !== undefined) {
  const total = Object.values(last.snapshotBytes).reduce((a, b) => a + b, 0);
  console.log(
    `\nFull snapshot per subscriber: ${(total / 1024).toFixed(1)} KiB (` +
      Object.entries(last.snapshotBytes)
        .map(([t, b]) => `${t} ${(b / 1024).toFixed(1)} KiB`)
        .join(', ') +
      `); one-pod Workload delta: ${last.deltaBytes.toFixed(0)} bytes.`,
  );
}
