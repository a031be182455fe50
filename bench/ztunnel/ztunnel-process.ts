// Starts one ztunnel as shipped (node build/ztunnel.mjs) as its own process, its JSON log and
// access log going straight to a file (not through this process: at tens of thousands of
// connections per second the access log must not cost the harness CPU), and waits for
// /healthz/ready. The PID is ztunnel's own (`sh -c 'exec …'`).
import { join } from 'node:path';
import { freePort, type ProcessGroup, type Started } from '../hbone/processes.ts';

export interface ZtunnelProcess {
  name: string;
  pid: number;
  metricsPort: number;
  log: string;
}

export async function startZtunnel(o: {
  group: ProcessGroup;
  dir: string;
  name: string;
  node: string;
  script: string;
  args: readonly string[];
}): Promise<ZtunnelProcess> {
  const readiness = await freePort();
  const metrics = await freePort();
  const log = join(o.dir, `${o.name}.jsonl`);
  const args = [
    ...o.args,
    '--admin-addr',
    '127.0.0.1:0',
    '--metrics-addr',
    `127.0.0.1:${metrics}`,
    '--readiness-addr',
    `127.0.0.1:${readiness}`,
    '--drain-deadline',
    '1s',
  ];
  const s: Started = await o.group.start(
    o.name,
    'sh',
    ['-c', `exec "$0" "$@" >> '${log}' 2>&1`, o.node, o.script, ...args],
    async (_s, signal) => {
      while (!signal.aborted) {
        try {
          const res = await fetch(`http://127.0.0.1:${readiness}/healthz/ready`, { signal });
          await res.text();
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    30_000,
  );
  return { name: o.name, pid: s.pid, metricsPort: metrics, log };
}

/** Sum of a counter over the label sets that contain every given `label="value"`. */
export async function counter(
  z: ZtunnelProcess,
  name: string,
  labels: readonly string[],
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${z.metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!labels.every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}
