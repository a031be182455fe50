// Runs the native load tools (iperf3, fortio, wrk) against 127.0.0.1 and parses what they print.
import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

// A load tool still running when the benchmark exits (error, Ctrl-C) is killed by its PID.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
});

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        running.delete(child);
        if (err) {
          reject(
            new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`, {
              cause: err,
            }),
          );
        } else {
          resolve(stdout);
        }
      },
    );
    running.add(child);
  });
}

// ---- iperf3 ----

export interface IperfResult {
  /** Received by the server, bits per second. */
  bitsPerSecond: number;
  retransmits: number;
}

export async function iperf3(opts: {
  port: number;
  streams: number;
  seconds: number;
  omitSeconds: number;
}): Promise<IperfResult> {
  const out = await run(
    'iperf3',
    [
      '-c',
      '127.0.0.1',
      '-p',
      String(opts.port),
      '-P',
      String(opts.streams),
      '-t',
      String(opts.seconds),
      '-O',
      String(opts.omitSeconds),
      '-J',
    ],
    (opts.seconds + opts.omitSeconds + 30) * 1000,
  );
  return parseIperfJson(out);
}

export function parseIperfJson(out: string): IperfResult {
  const j = JSON.parse(out) as {
    error?: string;
    end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
  };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error('iperf3: no end.sum_received in output');
  return { bitsPerSecond: bps, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
}

// ---- fortio (fixed rate) ----

export interface FixedRateResult {
  actualQps: number;
  count: number;
  errors: number;
  /** Latency percentiles in microseconds. */
  p50: number;
  p99: number;
  p999: number;
}

export async function fortioFixedRate(opts: {
  fortio: string;
  url: string;
  qps: number;
  connections: number;
  seconds: number;
  jsonPath: string;
}): Promise<FixedRateResult> {
  await run(
    opts.fortio,
    [
      'load',
      '-qps',
      String(opts.qps),
      '-c',
      String(opts.connections),
      '-t',
      `${opts.seconds}s`,
      '-p',
      '50,99,99.9',
      '-loglevel',
      'Error',
      '-json',
      opts.jsonPath,
      opts.url,
    ],
    (opts.seconds + 30) * 1000,
  );
  return parseFortioJson(await readFile(opts.jsonPath, 'utf8'));
}

export function parseFortioJson(text: string): FixedRateResult {
  const j = JSON.parse(text) as {
    ActualQPS: number;
    RetCodes?: Record<string, number>;
    DurationHistogram: { Count: number; Percentiles?: { Percentile: number; Value: number }[] };
  };
  const pct = (p: number): number => {
    const v = j.DurationHistogram.Percentiles?.find((x) => x.Percentile === p)?.Value;
    if (v === undefined) throw new Error(`fortio: no p${p} in output`);
    return v * 1e6;
  };
  const count = j.DurationHistogram.Count;
  const ok = j.RetCodes?.['200'] ?? 0;
  return {
    actualQps: j.ActualQPS,
    count,
    errors: count - ok,
    p50: pct(50),
    p99: pct(99),
    p999: pct(99.9),
  };
}

// ---- wrk (maximum rate) ----

export interface MaxRateResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Latency percentiles in microseconds. */
  p50: number;
  p99: number;
  /** Socket errors plus non-2xx/3xx responses. */
  errors: number;
  /** wrk's own words for them, when there were any. */
  errorDetail: string;
}

export async function wrk(opts: {
  url: string;
  connections: number;
  seconds: number;
  closeEachRequest: boolean;
}): Promise<MaxRateResult> {
  const args = [
    '-t1',
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
  ];
  if (opts.closeEachRequest) args.push('-H', 'Connection: close');
  args.push(opts.url);
  return parseWrkOutput(await run('wrk', args, (opts.seconds + 30) * 1000));
}

const UNIT_MICROS: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

function micros(value: string, unit: string): number {
  const f = UNIT_MICROS[unit];
  if (f === undefined) throw new Error(`wrk: unknown time unit ${unit}`);
  return Number(value) * f;
}

export function parseWrkOutput(out: string): MaxRateResult {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(out);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out);
  if (
    !total?.[1] ||
    !total[2] ||
    !total[3] ||
    !rate?.[1] ||
    !p50?.[1] ||
    !p50[2] ||
    !p99?.[1] ||
    !p99[2]
  ) {
    throw new Error(`wrk: unexpected output:\n${out}`);
  }
  let errors = 0;
  const detail: string[] = [];
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) {
    errors += sock.slice(1).reduce((a, b) => a + Number(b), 0);
    detail.push(sock[0]);
  }
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx?.[1]) {
    errors += Number(non2xx[1]);
    detail.push(non2xx[0]);
  }
  return {
    requests: Number(total[1]),
    seconds: micros(total[2], total[3]) / 1e6,
    requestsPerSecond: Number(rate[1]),
    p50: micros(p50[1], p50[2]),
    p99: micros(p99[1], p99[2]),
    errors,
    errorDetail: detail.join('; '),
  };
}
