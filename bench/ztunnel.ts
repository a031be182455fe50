// ztunnel benchmark (issues 3 and 4). Two topologies, one measurement loop:
//   --topology explicit  (make bench-ztunnel; no root) loopback, load through node-a's SOCKS5
//                        port, against direct and the haproxy mTLS pair of the HBONE benchmark
//   --topology inpod     (make bench-capture; root) pods in network namespaces on bridged node
//                        netns, nftables REDIRECT to in-pod ztunnel listeners, against the same
//                        pods without the mesh; plus pod enrolment latency
// Measures latency at fixed rates (1,000 and 2,000 req/s of 1 KiB, keep-alive and a new connection
// per request), maximum rates, one-connection throughput, CPU and RSS of each ztunnel, and memory
// per idle tunneled connection. Paths are interleaved measurement by measurement, round by round.
// Entry point: bash bench/ztunnel.sh. See docs/benchmarks.md ("ztunnel", "Kernel path").
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros, memory } from './hbone/proc-stats.ts';
import { ProcessGroup } from './hbone/processes.ts';
import { explicitTopology } from './ztunnel/explicit-topology.ts';
import { inpodTopology } from './ztunnel/inpod-topology.ts';
import { fortio, iperf3, wrk } from './ztunnel/load.ts';
import { parseOptions, type ZtunnelBenchOptions } from './ztunnel/options.ts';
import { buildTable, consoleTable, markdownTable, Samples } from './ztunnel/report.ts';
import type { BenchPath, BenchTopology } from './ztunnel/topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HERE = join(ROOT, 'bench', 'ztunnel');
const MB = 1e6;

function log(msg: string): void {
  process.stderr.write(`[bench-ztunnel] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function toolOutput(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return (e as { stdout?: string }).stdout ?? '';
  }
}

function versions(withHaproxy: boolean): string {
  const pick = (text: string, re: RegExp): string => re.exec(text)?.[1] ?? '?';
  const haproxy = withHaproxy ? toolOutput('haproxy', ['-vv']) : '';
  return [
    `Node ${process.version} (OpenSSL ${process.versions.openssl})`,
    ...(withHaproxy
      ? [
          `haproxy ${pick(haproxy, /HAProxy version (\S+)/)} (${pick(haproxy, /Running on OpenSSL version : (OpenSSL \S+)/)})`,
        ]
      : []),
    `fortio ${pick(toolOutput('fortio', ['version']), /(\S+)/)}`,
    `wrk ${pick(toolOutput('wrk', ['-v']), /wrk (\S+)/)}`,
    `iperf3 ${pick(toolOutput('iperf3', ['--version']), /iperf (\S+)/)}`,
  ].join(', ');
}

async function machineBusy(ms: number): Promise<number> {
  const read = (): { busy: number; total: number } => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  };
  const a = read();
  await sleep(ms);
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

function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function proxyCpu(p: BenchPath): { client: number; server: number } {
  return p.proxies
    ? { client: cpuMicros(p.proxies.client), server: cpuMicros(p.proxies.server) }
    : { client: 0, server: 0 };
}

async function main(opts: ZtunnelBenchOptions): Promise<void> {
  const tools = ['fortio', 'wrk', 'iperf3', ...(opts.withHaproxy ? ['haproxy'] : [])];
  for (const tool of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `${tool} not on PATH: run bash scripts/install-bench-tools.sh (bench/ztunnel.sh does)`,
      );
    }
  }
  if (!existsSync(opts.ztunnel))
    throw new Error(
      `ztunnel bundle not found at ${opts.ztunnel}: run make build (bench/ztunnel.sh does)`,
    );
  if (opts.topology === 'inpod' && process.getuid?.() !== 0)
    throw new Error('--topology inpod needs root (network namespaces, nftables)');

  const work = mkdtempSync(join(os.tmpdir(), `ambit-bench-ztunnel-${opts.topology}-`));
  const group = new ProcessGroup(work);
  let topo: BenchTopology | undefined;
  let ok = false;
  const loadBefore = os.loadavg();
  const started = new Date();
  const busyBefore = await machineBusy(2000);
  log(
    `machine busy before start: ${(busyBefore * 100).toFixed(0)}% of all CPUs; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`,
  );
  if (busyBefore > 0.1) log('warning: the machine is not quiet; figures will be noisy');
  try {
    const enrolment: number[] = [];
    topo =
      opts.topology === 'explicit'
        ? await explicitTopology({
            group,
            dir: work,
            node: process.execPath,
            ztunnel: opts.ztunnel,
            hbonePair: join(ROOT, 'build', 'hbone-pair.mjs'),
            withHaproxy: opts.withHaproxy,
            here: HERE,
          })
        : await inpodTopology({
            group,
            dir: work,
            node: process.execPath,
            ztunnel: opts.ztunnel,
            here: HERE,
            enrolPods: opts.enrolPods,
            enrolment,
            log,
          });
    const paths = topo.paths;
    const names = paths.map((p) => p.name);
    const samples = new Samples();
    const problems: string[] = [];
    const zt = paths.find((p) => p.name === 'ztunnel');
    if (!zt?.proxies) throw new Error('no ztunnel path');
    const ztPids = zt.proxies;
    const rssOf = (p: BenchPath, side: 'client' | 'server'): number =>
      p.proxies ? memory(p.proxies[side]).rss / MB : 0;
    const each = (p: BenchPath, fn: (side: 'client' | 'server') => void): void => {
      if (!p.proxies) return;
      fn('client');
      fn('server');
    };
    log(`paths: ${names.join(', ')}`);

    // Idle: after start-up, before any traffic.
    await sleep(1000);
    for (const p of paths)
      each(p, (side) => samples.add(`rssIdle-${side}`, p.name, rssOf(p, side)));

    // At 1,000 req/s, before anything heavier: Node's heap, once grown (by 5,000 connections or a
    // maximum-rate run), does not give its pages back, so this is the only RSS that shows what a
    // ztunnel serving 1,000 req/s needs. One run per path, keep-alive, also counted as a warm-up.
    for (const p of paths) {
      await fortio({
        client: p.client,
        url: p.url,
        qps: 1000,
        connections: opts.fixedConnections,
        seconds: opts.fixedSeconds,
        keepAlive: true,
        payloadBytes: opts.payloadBytes,
        jsonPath: join(work, `first-${p.name}.json`),
      });
      each(p, (side) => samples.add(`rss1k-${side}`, p.name, rssOf(p, side)));
    }
    log('RSS at 1,000 req/s taken');

    // Idle tunneled connections: open, settle, measure, close.
    {
      await sleep(1000);
      const before = { client: memory(ztPids.client).rss, server: memory(ztPids.server).rss };
      for (const side of ['client', 'server'] as const)
        samples.add(`rssBeforeHeld-${side}`, 'ztunnel', before[side] / MB);
      const stop = await topo.holdIdle(opts.idleConnections);
      await sleep(2000);
      for (const side of ['client', 'server'] as const) {
        const rss = memory(ztPids[side]).rss;
        samples.add(`rssHeld-${side}`, 'ztunnel', rss / MB);
        samples.add(
          `kbPerConn-${side}`,
          'ztunnel',
          (rss - before[side]) / 1000 / opts.idleConnections,
        );
      }
      log(`held ${opts.idleConnections} idle tunneled connections`);
      await stop();
      await sleep(1000);
    }

    // Warm-up (JIT, pools, TLS session caches), not recorded; and proof that the ztunnel path is tunneled.
    const tunneled0 = await topo.tunneledConnections();
    for (const p of paths) {
      await fortio({
        client: p.client,
        url: p.url,
        qps: 0,
        connections: opts.maxRateConnections,
        seconds: opts.warmupSeconds,
        keepAlive: true,
        payloadBytes: opts.payloadBytes,
        jsonPath: join(work, `warmup-${p.name}.json`),
      });
    }
    const tunneled = (await topo.tunneledConnections()) - tunneled0;
    if (tunneled < opts.maxRateConnections)
      throw new Error(
        `the ztunnel path opened only ${tunneled} connections through node-a: is the load tool bypassing ztunnel?`,
      );
    log(`warm-up done; node-a counted ${tunneled} tunneled connections for it`);

    for (let round = 0; round < opts.rounds; round++) {
      const order = rotate(paths, round);
      const tag = `[${round + 1}/${opts.rounds}]`;
      for (const rate of opts.fixedRates) {
        for (const keepAlive of [true, false]) {
          for (const p of order) {
            const cpu0 = proxyCpu(p);
            const r = await fortio({
              client: p.client,
              url: p.url,
              qps: rate,
              connections: keepAlive ? opts.fixedConnections : opts.fixedNewConnConnections,
              seconds: opts.fixedSeconds,
              keepAlive,
              payloadBytes: opts.payloadBytes,
              jsonPath: join(work, `fixed-${p.name}-${rate}-${keepAlive}-${round}.json`),
            });
            const cpu1 = proxyCpu(p);
            const k = `lat-${rate}-${keepAlive ? 'ka' : 'nc'}`;
            samples.add(`${k}-p50`, p.name, r.p50);
            samples.add(`${k}-p99`, p.name, r.p99);
            samples.add(`${k}-p99.9`, p.name, r.p999);
            if (rate === 1000 && keepAlive) {
              each(p, (side) => {
                // CPU seconds per 1,000 requests = vCPU per 1,000 req/s.
                samples.add(
                  `cpu1k-${side}`,
                  p.name,
                  ((cpu1[side] - cpu0[side]) / 1e6 / r.count) * 1000,
                );
              });
            }
            if (r.errors > 0)
              problems.push(
                `${p.name}: fortio ${rate}/s ${keepAlive ? 'keep-alive' : 'new conn'} round ${round + 1}: ${r.errors} of ${r.count} failed`,
              );
            if (r.actualQps < rate * 0.97)
              problems.push(
                `${p.name}: fortio ${rate}/s ${keepAlive ? 'keep-alive' : 'new conn'} round ${round + 1} reached only ${r.actualQps.toFixed(0)}/s`,
              );
            log(
              `${tag} ${p.name} ${rate}/s ${keepAlive ? 'keep-alive' : 'new conn'}: p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs, p99.9 ${r.p999.toFixed(0)} µs`,
            );
          }
        }
      }
      for (const keepAlive of [true, false]) {
        for (const p of order) {
          const cpu0 = proxyCpu(p);
          let rate: number;
          let requests: number;
          let p99: number;
          if (p.maxRateTool === 'wrk') {
            const r = await wrk({
              client: p.client,
              url: p.url,
              connections: opts.maxRateConnections,
              seconds: opts.maxRateSeconds,
              closeEachRequest: !keepAlive,
              scriptPath: join(work, 'post.lua'),
              payloadBytes: opts.payloadBytes,
            });
            rate = r.requestsPerSecond;
            requests = r.requests;
            p99 = r.p99;
            if (r.errors > 0)
              problems.push(
                `${p.name}: wrk ${keepAlive ? 'keep-alive' : 'Connection: close'} round ${round + 1}: ${r.errorDetail} (${r.requests} requests)`,
              );
          } else {
            const r = await fortio({
              client: p.client,
              url: p.url,
              qps: 0,
              connections: opts.maxRateConnections,
              seconds: opts.maxRateSeconds,
              keepAlive,
              payloadBytes: opts.payloadBytes,
              jsonPath: join(work, `max-${p.name}-${keepAlive}-${round}.json`),
            });
            rate = r.actualQps;
            requests = r.count;
            p99 = r.p99;
            if (r.errors > 0)
              problems.push(
                `${p.name}: fortio max ${keepAlive ? 'keep-alive' : 'new conn'} round ${round + 1}: ${r.errors} of ${r.count} failed`,
              );
          }
          const cpu1 = proxyCpu(p);
          if (keepAlive) {
            samples.add('maxRate', p.name, rate);
            samples.add('maxP99', p.name, p99);
            each(p, (side) => {
              samples.add(
                `cpuMax-${side}`,
                p.name,
                ((cpu1[side] - cpu0[side]) / 1e6 / requests) * 1000,
              );
              samples.add(`rssMax-${side}`, p.name, rssOf(p, side));
            });
          } else {
            samples.add('connRate', p.name, rate);
            each(p, (side) =>
              samples.add(
                `cpuConn-${side}`,
                p.name,
                ((cpu1[side] - cpu0[side]) / 1e6 / requests) * 1000,
              ),
            );
          }
          log(
            `${tag} ${p.name} max ${keepAlive ? 'keep-alive' : 'new conn'} (${p.maxRateTool}): ${rate.toFixed(0)}/s`,
          );
        }
      }
      for (const p of order) {
        let gbps: number;
        if (p.bulk.kind === 'iperf3') {
          const r = await iperf3({
            client: p.client,
            host: p.bulk.host,
            port: p.bulk.port,
            seconds: opts.bulkSeconds,
            omitSeconds: opts.quick ? 0 : 1,
          });
          gbps = r.bitsPerSecond / 1e9;
        } else {
          const r = await fortio({
            client: p.client,
            url: p.bulk.url,
            qps: 0,
            connections: 1,
            seconds: opts.bulkSeconds,
            keepAlive: true,
            payloadBytes: 0,
            jsonPath: join(work, `bulk-${p.name}-${round}.json`),
          });
          gbps = (r.bytes * 8) / r.seconds / 1e9;
          if (r.errors > 0)
            problems.push(`${p.name}: fortio bulk round ${round + 1}: ${r.errors} failed`);
        }
        samples.add('tput1', p.name, gbps);
        log(`${tag} ${p.name} one connection: ${gbps.toFixed(2)} Gbit/s`);
      }
    }

    for (const p of paths)
      each(p, (side) => samples.add(`rssPeak-${side}`, p.name, memory(p.proxies![side]).hwm / MB));

    const table = buildTable(samples, names);
    console.log(consoleTable(table));
    console.log('');
    for (const l of table.targets) console.log(l);
    const enrolLines = enrolmentLines(enrolment);
    for (const l of enrolLines) console.log(l);
    for (const pr of problems) console.log(`! ${pr}`);

    const md = markdownBlock(opts, {
      started,
      loadBefore,
      loadAfter: os.loadavg(),
      busyBefore,
      describe: topo.describe(),
      table: markdownTable(table),
      targets: table.targets,
      enrolment: enrolLines,
      problems,
    });
    const out =
      opts.out ??
      join(
        ROOT,
        'bench',
        'results',
        `${opts.topology === 'explicit' ? 'ztunnel' : 'kernel-path'}-${started.toISOString().replace(/[:.]/g, '-')}.md`,
      );
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
    log(`markdown block for docs/benchmarks.md written to ${out}`);
    ok = true;
  } finally {
    await group.stopAll();
    await topo?.close();
    if (ok) rmSync(work, { recursive: true, force: true });
    else log(`logs kept in ${work}`);
  }
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

function enrolmentLines(ms: readonly number[]): string[] {
  if (ms.length === 0) return [];
  return [
    `Pod enrolment (ambit-cni ADD → enrolled, ${ms.length} pods one after another): p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms.`,
  ];
}

function markdownBlock(
  opts: ZtunnelBenchOptions,
  r: {
    started: Date;
    loadBefore: number[];
    loadAfter: number[];
    busyBefore: number;
    describe: string[];
    table: string;
    targets: string[];
    enrolment: string[];
    problems: string[];
  },
): string {
  const la = (x: number[]): string => x.map((v) => v.toFixed(2)).join(' ');
  const d = opts.quick ? ' (--quick: short runs, for validating the harness only)' : '';
  const make = opts.topology === 'explicit' ? 'make bench-ztunnel' : 'make bench-capture';
  return `### Run of ${r.started.toISOString().slice(0, 16).replace('T', ' ')} UTC${d}

Command: \`${opts.command}\` (\`${make}\`)

Machine: ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), Linux ${os.release()}; ${versions(opts.withHaproxy)}; ztunnel \`${relative(ROOT, opts.ztunnel)}\`.
Machine busy in the 2 s before start (other work): ${(r.busyBefore * 100).toFixed(0)}% of all CPUs; load average before / after: ${la(r.loadBefore)} / ${la(r.loadAfter)}.
Host settings (left as found): net.ipv4.ip_local_port_range = ${sysctl('net/ipv4/ip_local_port_range')}, tcp_tw_reuse = ${sysctl('net/ipv4/tcp_tw_reuse')}, somaxconn = ${sysctl('net/core/somaxconn')}.
${r.describe.join('\n')}
"client proxy" is node-a's ztunnel (or haproxy's client side), "server proxy" node-b's (haproxy's server side).
${opts.rounds} round(s), paths interleaved; each cell is the median, with (min–max) over rounds. Durations: fortio ${opts.fixedSeconds} s per fixed rate over ${opts.fixedConnections} keep-alive connections (${opts.fixedNewConnConnections} concurrent when each request opens its own), POST of ${opts.payloadBytes} bytes echoed back; maximum rates ${opts.maxRateSeconds} s with ${opts.maxRateConnections} connections; one connection ${opts.bulkSeconds} s; ${opts.idleConnections} idle tunneled connections. MB = 10^6 bytes, kB = 10^3 bytes.

${r.table}

Targets:
${r.targets.join('\n')}
${r.enrolment.length ? `\n${r.enrolment.join('\n')}\n` : ''}${r.problems.length ? `\nProblems seen:\n${r.problems.map((p) => `- ${p}`).join('\n')}\n` : ''}`;
}

try {
  await main(parseOptions(process.argv.slice(2), ROOT));
} catch (e) {
  log(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
}
