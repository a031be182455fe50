// HBONE benchmark (issue 2). In one run, on 127.0.0.1 only, for three paths —
//   direct   load tool → backend
//   hbone    load tool → hbone-pair client → (HTTP/2 CONNECT over mTLS) → hbone-pair server → backend
//   haproxy  load tool → haproxy client → (TCP over mTLS 1.3) → haproxy server → backend
// it measures bulk throughput (iperf3), fixed-rate latency (fortio), maximum keep-alive rate and
// new connections per second (wrk), and CPU and memory of the proxy processes (/proc). Paths are
// interleaved measurement by measurement, round by round, so a noisy neighbour hurts them alike.
// Entry point: bash bench/hbone.sh (installs the native tools first). See docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haproxyPems, makeCerts } from './hbone/certs.ts';
import { startHaproxyPair } from './hbone/haproxy-pair.ts';
import { startHbonePair } from './hbone/hbone-pair.ts';
import { fortioFixedRate, iperf3, wrk } from './hbone/load-tools.ts';
import { parseOptions, type BenchOptions, type PathName } from './hbone/options.ts';
import { cpuMicros, memory } from './hbone/proc-stats.ts';
import { acceptsOn, freePort, printsLine, ProcessGroup } from './hbone/processes.ts';
import { buildRows, consoleTable, markdownTable, Samples, targetLines } from './hbone/report.ts';
import type { TunnelPair } from './hbone/tunnel-pair.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

function log(msg: string): void {
  process.stderr.write(`[bench-hbone] ${msg}\n`);
}

function toolOutput(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // wrk -v prints its version and exits 1.
    return (e as { stdout?: string }).stdout ?? '';
  }
}

/** One line naming the versions of everything measured or measuring. */
function versions(): string {
  const pick = (text: string, re: RegExp): string => re.exec(text)?.[1] ?? '?';
  const haproxy = toolOutput('haproxy', ['-vv']);
  return [
    `Node ${process.version} (OpenSSL ${process.versions.openssl})`,
    `haproxy ${pick(haproxy, /HAProxy version (\S+)/)} (${pick(haproxy, /Running on OpenSSL version : (OpenSSL \S+)/)})`,
    `fortio ${pick(toolOutput('fortio', ['version']), /(\S+)/)}`,
    `wrk ${pick(toolOutput('wrk', ['-v']), /wrk (\S+)/)}`,
    `iperf3 ${pick(toolOutput('iperf3', ['--version']), /iperf (\S+)/)}`,
  ].join(', ');
}

/** Busy share of all CPUs over `ms`, from /proc/stat: how quiet the machine is before we start. */
async function machineBusy(ms: number): Promise<number> {
  const read = (): { busy: number; total: number } => {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = cpu.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}

function sysctl(path: string): string {
  try {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return '?';
  }
}

/** What a measurement goes through for one path: the load tool's port and the proxies, if any. */
interface Route {
  httpPort: number;
  bulkPort: number;
  http?: TunnelPair;
  bulk?: TunnelPair;
}

function pairCpu(p: TunnelPair | undefined): number {
  return p ? cpuMicros(p.pids.client) + cpuMicros(p.pids.server) : 0;
}

function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(opts: BenchOptions): Promise<void> {
  for (const tool of [
    'wrk',
    'iperf3',
    'fortio',
    ...(opts.paths.includes('haproxy') ? ['haproxy'] : []),
  ]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `${tool} not on PATH: run bash scripts/install-bench-tools.sh (bench/hbone.sh does)`,
      );
    }
  }
  if (opts.paths.includes('hbone') && !existsSync(opts.hbonePair)) {
    throw new Error(
      `HBONE pair not found at ${opts.hbonePair}: run make build (bench/hbone.sh does); to validate the harness without it use --paths direct,haproxy`,
    );
  }

  const work = mkdtempSync(join(os.tmpdir(), 'ambit-bench-hbone-'));
  const group = new ProcessGroup(work);
  let ok = false;
  const loadBefore = os.loadavg();
  const started = new Date();
  const busyBefore = await machineBusy(2000);
  log(`machine busy before start: ${(busyBefore * 100).toFixed(0)}% of all CPUs`);
  if (busyBefore > 0.1) log('warning: the machine is not quiet; figures will be noisy');
  try {
    // Certificates: the HBONE pair's own when it runs, shared with haproxy.
    const certsDir = join(work, 'certs');
    mkdirSync(certsDir);
    const certs = makeCerts({
      node: process.execPath,
      hbonePair: opts.paths.includes('hbone') ? opts.hbonePair : undefined,
      dir: certsDir,
    });
    log(`certificates from ${certs.origin} in ${certsDir}`);

    // Backends.
    const httpPort = await freePort();
    const bulkPort = await freePort();
    await group.start(
      'fortio-server',
      'fortio',
      [
        'server',
        '-http-port',
        `127.0.0.1:${httpPort}`,
        '-grpc-port',
        'disabled',
        '-redirect-port',
        'disabled',
        '-tcp-port',
        'disabled',
        '-udp-port',
        'disabled',
        '-loglevel',
        'Warning',
      ],
      acceptsOn(httpPort),
    );
    await group.start(
      'iperf3-server',
      'iperf3',
      ['-s', '--forceflush', '-B', '127.0.0.1', '-p', String(bulkPort)],
      printsLine(/Server listening/),
    );

    // Tunnel pairs: one per path and backend, so the HTTP pair's memory is not the bulk pair's.
    const routes = new Map<PathName, Route>();
    for (const path of opts.paths) {
      switch (path) {
        case 'direct':
          routes.set(path, { httpPort, bulkPort });
          break;
        case 'hbone': {
          const start = (name: string, backendPort: number): Promise<TunnelPair> =>
            startHbonePair({
              group,
              name,
              node: process.execPath,
              script: opts.hbonePair,
              certsDir,
              backendPort,
            });
          const http = await start('hbone-http', httpPort);
          const bulk = await start('hbone-bulk', bulkPort);
          routes.set(path, { httpPort: http.port, bulkPort: bulk.port, http, bulk });
          break;
        }
        case 'haproxy': {
          const pems = haproxyPems(certs);
          const start = (name: string, backendPort: number): Promise<TunnelPair> =>
            startHaproxyPair({ group, name, dir: work, pems, backendPort });
          const http = await start('haproxy-http', httpPort);
          const bulk = await start('haproxy-bulk', bulkPort);
          routes.set(path, { httpPort: http.port, bulkPort: bulk.port, http, bulk });
          break;
        }
        default: {
          const never: never = path;
          throw new Error(`unknown path ${String(never)}`);
        }
      }
    }
    const route = (p: PathName): Route => {
      const r = routes.get(p);
      if (!r) throw new Error(`no route for ${p}`);
      return r;
    };
    const url = (p: PathName): string =>
      `http://127.0.0.1:${route(p).httpPort}/echo?size=${opts.payloadBytes}`;

    const samples = new Samples();
    const problems: string[] = [];

    // Idle memory: after start-up, before any traffic.
    await sleep(1000);
    for (const p of opts.paths) {
      const http = route(p).http;
      if (!http) continue;
      samples.add('rssIdleClient', p, memory(http.pids.client).rss / MiB);
      samples.add('rssIdleServer', p, memory(http.pids.server).rss / MiB);
    }

    // Warm-up (JIT, pools, TLS session caches), not recorded.
    for (const p of opts.paths) {
      await wrk({
        url: url(p),
        connections: opts.maxRateConnections,
        seconds: opts.warmupSeconds,
        closeEachRequest: false,
      });
      await iperf3({ port: route(p).bulkPort, streams: 1, seconds: 1, omitSeconds: 0 });
    }
    log('warm-up done');

    for (let round = 0; round < opts.rounds; round++) {
      const order = rotate(opts.paths, round);
      const tag = `[${round + 1}/${opts.rounds}]`;
      for (const streams of [1, 16]) {
        for (const p of order) {
          const r = await iperf3({
            port: route(p).bulkPort,
            streams,
            seconds: opts.iperfSeconds,
            omitSeconds: opts.iperfOmitSeconds,
          });
          samples.add(streams === 1 ? 'tput1' : 'tput16', p, r.bitsPerSecond / 1e9);
          log(`${tag} ${p} iperf3 -P ${streams}: ${(r.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`);
        }
      }
      for (const p of order) {
        const r = await fortioFixedRate({
          fortio: 'fortio',
          url: url(p),
          qps: opts.fixedQps,
          connections: opts.fixedConnections,
          seconds: opts.fixedRateSeconds,
          jsonPath: join(work, `fortio-${p}-${round}.json`),
        });
        samples.add('fixedP50', p, r.p50);
        samples.add('fixedP99', p, r.p99);
        samples.add('fixedP999', p, r.p999);
        if (r.errors > 0)
          problems.push(
            `${p}: fortio round ${round + 1}: ${r.errors} of ${r.count} requests failed`,
          );
        if (r.actualQps < opts.fixedQps * 0.97) {
          problems.push(
            `${p}: fortio round ${round + 1} reached only ${r.actualQps.toFixed(0)}/s of ${opts.fixedQps}/s`,
          );
        }
        log(
          `${tag} ${p} fortio ${opts.fixedQps}/s: p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs, p99.9 ${r.p999.toFixed(0)} µs`,
        );
      }
      for (const p of order) {
        const pair = route(p).http;
        const cpu0 = pairCpu(pair);
        const r = await wrk({
          url: url(p),
          connections: opts.maxRateConnections,
          seconds: opts.maxRateSeconds,
          closeEachRequest: false,
        });
        const cpu = pairCpu(pair) - cpu0;
        samples.add('maxRate', p, r.requestsPerSecond);
        samples.add('maxP50', p, r.p50);
        samples.add('maxP99', p, r.p99);
        if (pair) {
          samples.add('cpuPerReq', p, cpu / r.requests);
          samples.add('cpuPct', p, (cpu / (r.seconds * 1e6)) * 100);
          samples.add('rssLoadClient', p, memory(pair.pids.client).rss / MiB);
          samples.add('rssLoadServer', p, memory(pair.pids.server).rss / MiB);
        }
        if (r.errors > 0)
          problems.push(
            `${p}: wrk keep-alive round ${round + 1}: ${r.errorDetail} (${r.requests} requests)`,
          );
        log(
          `${tag} ${p} wrk keep-alive: ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99.toFixed(0)} µs${pair ? `, proxy CPU ${(cpu / r.requests).toFixed(1)} µs/req` : ''}`,
        );
      }
      for (const p of order) {
        const pair = route(p).http;
        const cpu0 = pairCpu(pair);
        const r = await wrk({
          url: url(p),
          connections: opts.newConnConnections,
          seconds: opts.newConnSeconds,
          closeEachRequest: true,
        });
        const cpu = pairCpu(pair) - cpu0;
        samples.add('connRate', p, r.requestsPerSecond);
        if (pair) samples.add('cpuPerConn', p, cpu / r.requests);
        if (r.errors > 0)
          problems.push(
            `${p}: wrk Connection: close round ${round + 1}: ${r.errorDetail} (${r.requests} requests)`,
          );
        log(`${tag} ${p} wrk Connection: close: ${r.requestsPerSecond.toFixed(0)} conn/s`);
      }
    }

    // Peak memory over everything each role did (HTTP and bulk pairs).
    for (const p of opts.paths) {
      const { http, bulk } = route(p);
      if (!http || !bulk) continue;
      samples.add(
        'rssPeakClient',
        p,
        Math.max(memory(http.pids.client).hwm, memory(bulk.pids.client).hwm) / MiB,
      );
      samples.add(
        'rssPeakServer',
        p,
        Math.max(memory(http.pids.server).hwm, memory(bulk.pids.server).hwm) / MiB,
      );
    }

    const rows = buildRows(samples);
    console.log(consoleTable(rows));
    console.log('');
    for (const l of targetLines(samples)) console.log(l);
    for (const pr of problems) console.log(`! ${pr}`);

    const md = markdownBlock(opts, {
      started,
      loadBefore,
      loadAfter: os.loadavg(),
      busyBefore,
      certsOrigin: certs.origin,
      table: markdownTable(rows),
      targets: targetLines(samples),
      problems,
    });
    const out =
      opts.out ??
      join(ROOT, 'bench', 'results', `hbone-${started.toISOString().replace(/[:.]/g, '-')}.md`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
    log(`markdown block for docs/benchmarks.md written to ${out}`);
    ok = true;
  } finally {
    await group.stopAll();
    if (ok) rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${work}`);
  }
}

function markdownBlock(
  opts: BenchOptions,
  r: {
    started: Date;
    loadBefore: number[];
    loadAfter: number[];
    busyBefore: number;
    certsOrigin: string;
    table: string;
    targets: string[];
    problems: string[];
  },
): string {
  const la = (x: number[]): string => x.map((v) => v.toFixed(2)).join(' ');
  const d = opts.quick ? ' (--quick: short runs, for validating the harness only)' : '';
  return `### Run of ${r.started.toISOString().slice(0, 16).replace('T', ' ')} UTC${d}

Command: \`${opts.command}\` (\`make bench-hbone\` runs \`bash bench/hbone.sh\`)

Machine: ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), Linux ${os.release()}; ${versions()}.
Machine busy in the 2 s before start (other work): ${(r.busyBefore * 100).toFixed(0)}% of all CPUs; load average before / after: ${la(r.loadBefore)} / ${la(r.loadAfter)}.
Settings: net.ipv4.ip_local_port_range = ${sysctl('net/ipv4/ip_local_port_range')}, tcp_tw_reuse = ${sysctl('net/ipv4/tcp_tw_reuse')}, somaxconn = ${sysctl('net/core/somaxconn')} (left as found);
haproxy \`nbthread 1\` per process; HBONE pair \`${relative(ROOT, opts.hbonePair)}\`; certificates from ${r.certsOrigin}. ${opts.rounds} round(s), paths interleaved; each cell is the median, with (min–max) over rounds.
Durations: iperf3 ${opts.iperfSeconds} s (+${opts.iperfOmitSeconds} s omitted), fortio ${opts.fixedRateSeconds} s at ${opts.fixedQps}/s over ${opts.fixedConnections} connections, wrk ${opts.maxRateSeconds} s with ${opts.maxRateConnections} connections (keep-alive), wrk ${opts.newConnSeconds} s with ${opts.newConnConnections} connections and \`Connection: close\`; responses are ${opts.payloadBytes}-byte bodies.

${r.table}

Targets (hbone / haproxy, same run):
${r.targets.join('\n')}
${r.problems.length ? `\nProblems seen:\n${r.problems.map((p) => `- ${p}`).join('\n')}\n` : ''}`;
}

try {
  await main(parseOptions(process.argv.slice(2), ROOT));
} catch (e) {
  log(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
