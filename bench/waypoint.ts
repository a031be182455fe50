// Waypoint benchmark (issue 7), one run, paths interleaved round by round: direct; L4 only (two
// ztunnels); L4 + waypoint; the same HTTP topology through a C L7 proxy (haproxy, http mode, mTLS
// both sides). Latency p50/p99 at a fixed 1,000 req/s, maximum req/s, CPU per 1,000 req/s and RSS
// of the waypoint (and of the other proxies, for comparison). Targets: waypoint ≤ 0.25 vCPU and
// ≤ 60 MB at 1,000 req/s; maximum req/s through the waypoint ≥ 0.8× through the C L7 proxy.
//   make bench-waypoint ARGS="--quick"     (builds the bundles, installs fortio/haproxy if missing)
//   ARGS="--quick --paths waypoint,haproxy" runs only those paths (iterating on one of them);
//   WAYPOINT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/wp" adds node flags to the waypoint process
//   (profiles are written when it exits, at the end of the run).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMicros, memory } from './hbone/proc-stats.ts';
import { ProcessGroup } from './hbone/processes.ts';
import { fortio } from './ztunnel/load.ts';
import { PATHS, waypointTopology, type WaypointBenchPath } from './waypoint-topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1e6;

function log(msg: string): void {
  process.stderr.write(`[bench-waypoint] ${msg}\n`);
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      out: { type: 'string' },
      paths: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick;
  return {
    quick,
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    out: values.out,
    paths: values.paths === undefined ? [...PATHS] : values.paths.split(','),
    fixedSeconds: quick ? 3 : 10,
    maxSeconds: quick ? 3 : 10,
    warmupSeconds: quick ? 1 : 3,
    fixedConnections: 16,
    maxConnections: 32,
    payloadBytes: 1024,
    command: ['make bench-waypoint', ...(argv.length ? [`ARGS="${argv.join(' ')}"`] : [])].join(
      ' ',
    ),
  };
}
type Options = ReturnType<typeof options>;

/** Values per (metric, path) over rounds; the report shows the median and the range. */
class Samples {
  readonly #m = new Map<string, number[]>();
  add(metric: string, path: string, v: number): void {
    const k = `${metric}|${path}`;
    this.#m.set(k, [...(this.#m.get(k) ?? []), v]);
  }
  median(metric: string, path: string): number | undefined {
    const xs = [...(this.#m.get(`${metric}|${path}`) ?? [])].sort((a, b) => a - b);
    return xs.length === 0 ? undefined : xs[Math.floor((xs.length - 1) / 2)];
  }
  cell(metric: string, path: string, digits: number): string {
    const xs = this.#m.get(`${metric}|${path}`) ?? [];
    const m = this.median(metric, path);
    if (m === undefined) return '–';
    const f = (x: number) => x.toFixed(digits);
    return xs.length > 1 ? `${f(m)} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : f(m);
  }
}

const cpuOf = (p: WaypointBenchPath): Record<string, number> =>
  Object.fromEntries(Object.entries(p.proxies).map(([k, pid]) => [k, cpuMicros(pid)]));

/** RssAnon of /proc/<pid>/status, bytes: resident memory that is the process's own (heap,
 * buffers), without the executable and libraries' file pages that every instance shares. */
function rssAnon(pid: number): number {
  const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? NaN : Number(m[1]) * 1024;
}

function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return (e as { stdout?: string }).stdout ?? '';
  }
}

async function main(opts: Options): Promise<void> {
  const ztunnel = join(ROOT, 'build', 'ztunnel.mjs');
  const waypoint = join(ROOT, 'build', 'waypoint.mjs');
  for (const f of [ztunnel, waypoint])
    if (!existsSync(f)) throw new Error(`${f} missing: run make build`);
  for (const t of ['fortio', 'haproxy'])
    if (tool('sh', ['-c', `command -v ${t}`]) === '')
      throw new Error(`${t} not on PATH: run bash scripts/install-bench-tools.sh`);

  const work = mkdtempSync(join(os.tmpdir(), 'ambit-bench-waypoint-'));
  const group = new ProcessGroup(work);
  const loadBefore = os.loadavg();
  const started = new Date();
  log(`load average before: ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
  let ok = false;
  try {
    const topo = await waypointTopology({
      group,
      dir: work,
      node: process.execPath,
      ztunnel,
      waypoint,
      hbonePair: join(ROOT, 'build', 'hbone-pair.mjs'),
      waypointNodeArgs: (process.env.WAYPOINT_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
    });
    topo.paths = topo.paths.filter((p) => opts.paths.includes(p.name));
    const s = new Samples();
    const problems: string[] = [];
    const wpRss = () => memory(topo.waypointPid).rss / MB;
    const anon = (pid: number) => rssAnon(pid) / MB;
    await new Promise((r) => setTimeout(r, 1000));
    s.add('rssIdle', 'waypoint', wpRss());

    const run = (p: WaypointBenchPath, qps: number, seconds: number, tag: string) =>
      fortio({
        client: p.client,
        url: p.url,
        qps,
        connections: qps === 0 ? opts.maxConnections : opts.fixedConnections,
        seconds,
        keepAlive: true,
        payloadBytes: opts.payloadBytes,
        jsonPath: join(work, `${tag}-${p.name}.json`),
      });

    // RSS at 1,000 req/s first, before any maximum-rate run: Node's heap, once grown, keeps its
    // pages (as bench/ztunnel.ts does). One run per path, also a warm-up.
    for (const p of topo.paths) {
      await run(p, 1000, opts.fixedSeconds, 'first');
      if (p.name === 'waypoint') {
        s.add('rssL7', p.name, wpRss());
        s.add('anonL7', p.name, anon(topo.waypointPid));
      }
      if (p.name === 'haproxy') {
        s.add('rssL7', p.name, memory(p.proxies['haproxy L7']!).rss / MB);
        s.add('anonL7', p.name, anon(p.proxies['haproxy L7']!));
      }
    }

    // Warm-up, not recorded; and proof that the waypoint path goes through the waypoint.
    for (const p of topo.paths) {
      const cpu0 = cpuMicros(topo.waypointPid);
      await run(p, 0, opts.warmupSeconds, 'warmup');
      const used = (cpuMicros(topo.waypointPid) - cpu0) / 1e6;
      if (p.name === 'waypoint' && used < 0.05)
        throw new Error(`the waypoint used ${used} s of CPU for its path: is it bypassed?`);
      if (p.name === 'l4' && used > 0.05)
        problems.push(`the waypoint used ${used.toFixed(2)} CPU s during the L4-only warm-up`);
    }

    for (let round = 0; round < opts.rounds; round++) {
      const k = round % topo.paths.length;
      const order = [...topo.paths.slice(k), ...topo.paths.slice(0, k)];
      for (const p of order) {
        const c0 = cpuOf(p);
        const r = await run(p, 1000, opts.fixedSeconds, `fixed-${round}`);
        const c1 = cpuOf(p);
        s.add('p50', p.name, r.p50);
        s.add('p99', p.name, r.p99);
        let all = 0;
        for (const [k, v] of Object.entries(c1)) {
          // CPU seconds per 1,000 requests = vCPU at 1,000 req/s.
          const per1k = ((v - (c0[k] ?? 0)) / 1e6 / r.count) * 1000;
          all += per1k;
          if (k === 'waypoint' || k === 'haproxy L7') s.add('cpuL7', p.name, per1k);
        }
        s.add('cpuAll', p.name, all);
        if (r.errors > 0) problems.push(`${p.name} 1,000 req/s: ${r.errors} of ${r.count} failed`);
        if (r.actualQps < 970)
          problems.push(`${p.name} 1,000 req/s reached ${r.actualQps.toFixed(0)}`);
        log(
          `[${round + 1}] ${p.name} 1,000 req/s: p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs`,
        );
      }
      for (const p of order) {
        const c0 = cpuOf(p);
        const r = await run(p, 0, opts.maxSeconds, `max-${round}`);
        const c1 = cpuOf(p);
        s.add('max', p.name, r.actualQps);
        const l7 = p.proxies.waypoint !== undefined ? 'waypoint' : 'haproxy L7';
        if (p.proxies[l7] !== undefined)
          s.add('cpuL7Max', p.name, ((c1[l7]! - c0[l7]!) / 1e6 / r.count) * 1000);
        if (p.name === 'waypoint') s.add('rssMax', p.name, wpRss());
        if (r.errors > 0) problems.push(`${p.name} max: ${r.errors} of ${r.count} failed`);
        log(`[${round + 1}] ${p.name} max: ${r.actualQps.toFixed(0)} req/s`);
      }
    }
    s.add('rssPeak', 'waypoint', memory(topo.waypointPid).hwm / MB);

    const rows: [string, string, number][] = [
      ['latency p50 at 1,000 req/s (µs)', 'p50', 0],
      ['latency p99 at 1,000 req/s (µs)', 'p99', 0],
      [`maximum req/s (${opts.maxConnections} connections)`, 'max', 0],
      ['vCPU per 1,000 req/s, L7 proxy (waypoint / haproxy http)', 'cpuL7', 3],
      ['vCPU per 1,000 req/s, all proxies of the path', 'cpuAll', 3],
      ['vCPU per 1,000 req/s at maximum rate, L7 proxy', 'cpuL7Max', 3],
      ['RSS at 1,000 req/s (first traffic), L7 proxy (MB)', 'rssL7', 1],
      ["… of which private (RssAnon: without the executable's file pages) (MB)", 'anonL7', 1],
      ['RSS of the waypoint: idle / after maximum rate / peak (MB)', 'rssIdle', 1],
    ];
    const header = `| | ${PATHS.join(' | ')} |\n| --- |${PATHS.map(() => ' ---: |').join('')}`;
    const body = rows.map(([label, k, d]) => {
      if (k === 'rssIdle')
        return `| ${label} | | | ${s.cell('rssIdle', 'waypoint', d)} / ${s.cell('rssMax', 'waypoint', d)} / ${s.cell('rssPeak', 'waypoint', d)} | |`;
      return `| ${label} | ${PATHS.map((p) => s.cell(k, p, d)).join(' | ')} |`;
    });
    const cpu = s.median('cpuL7', 'waypoint') ?? NaN;
    const rss = s.median('rssL7', 'waypoint') ?? NaN;
    const ratio = (s.median('max', 'waypoint') ?? NaN) / (s.median('max', 'haproxy') ?? NaN);
    const mark = (okay: boolean) => (okay ? 'met' : 'NOT met');
    const targets = [
      `- waypoint CPU at 1,000 req/s ≤ 0.25 vCPU: ${cpu.toFixed(3)} — ${mark(cpu <= 0.25)}`,
      `- waypoint RSS at 1,000 req/s ≤ 60 MB: ${rss.toFixed(1)} MB — ${mark(rss <= 60)}`,
      `- maximum req/s through the waypoint ≥ 0.8× through haproxy (http mode): ${ratio.toFixed(2)}× — ${mark(ratio >= 0.8)}`,
    ];
    const la = (x: number[]) => x.map((v) => v.toFixed(2)).join(' ');
    const haproxyV = /HAProxy version (\S+)/.exec(tool('haproxy', ['-v']))?.[1] ?? '?';
    const fortioV = tool('fortio', ['version']).trim().split(/\s+/)[0] ?? '?';
    const md = `### Run of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC${opts.quick ? ' (--quick: short runs; the machine is shared, figures are noisy)' : ''}

Command: \`${opts.command}\`

Machine: ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), Linux ${os.release()}; Node ${process.version}, haproxy ${haproxyV}, fortio ${fortioV}. Load average before / after: ${la(loadBefore)} / ${la(os.loadavg())}.
${topo.describe().join('\n')}
${opts.rounds} round(s), paths interleaved; median (min–max over rounds). fortio: POST of ${opts.payloadBytes} bytes echoed back, keep-alive; 1,000 req/s over ${opts.fixedConnections} connections for ${opts.fixedSeconds} s; maximum rate (\`-qps 0\`) over ${opts.maxConnections} connections for ${opts.maxSeconds} s. MB = 10^6 bytes. "all proxies": ztunnel A + B (+ waypoint), or the three haproxy processes.

${header}
${body.join('\n')}

Targets:
${targets.join('\n')}
${problems.length ? `\nProblems seen:\n${problems.map((p) => `- ${p}`).join('\n')}\n` : ''}`;
    console.log(md);
    const out =
      opts.out ??
      join(ROOT, 'bench', 'results', `waypoint-${started.toISOString().replace(/[:.]/g, '-')}.md`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
    log(`markdown block written to ${out}`);
    ok = true;
  } finally {
    await group.stopAll();
    if (ok) rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${work}`);
  }
}

try {
  await main(options(process.argv.slice(2)));
} catch (e) {
  log(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
}
