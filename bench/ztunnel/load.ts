// Runs the native load tools as a given client: optionally inside a pod's network namespace
// (`ip netns exec`, which execs the tool, so its PID is the tool's) and with extra environment
// (Go's proxy variables, for the explicit topology). Output parsing is the HBONE benchmark's.
import { execFile, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { parseFortioJson, parseIperfJson, parseWrkOutput } from '../hbone/load-tools.ts';
import type { FixedRateResult, IperfResult, MaxRateResult } from '../hbone/load-tools.ts';

/** Where and how a load tool runs for one path. */
export interface ClientContext {
  /** Network namespace name (`ip netns exec`), or undefined for this one. */
  netns?: string;
  /** Extra environment, e.g. `{ HTTP_PROXY: 'socks5://127.0.0.1:15080' }`. */
  env?: Record<string, string>;
  /** fortio's Go net/http client (`-stdclient`): the one that honours HTTP_PROXY. */
  fortioStdClient: boolean;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
});

export function commandFor(
  client: Pick<ClientContext, 'netns'>,
  cmd: string,
  args: readonly string[],
): [string, string[]] {
  return client.netns ? ['ip', ['netns', 'exec', client.netns, cmd, ...args]] : [cmd, [...args]];
}

export function runTool(
  client: Pick<ClientContext, 'netns' | 'env'>,
  cmd: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<string> {
  const [file, argv] = commandFor(client, cmd, args);
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      argv,
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        killSignal: 'SIGKILL',
        env: { ...process.env, ...client.env },
      },
      (err, stdout, stderr) => {
        running.delete(child);
        if (err) {
          reject(
            new Error(`${file} ${argv.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`, {
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

export interface FortioRun extends FixedRateResult {
  /** Seconds the run really lasted. */
  seconds: number;
  /** Response bytes received (bodies with -stdclient, whole responses otherwise). */
  bytes: number;
}

/** fortio load: fixed rate (qps > 0) or as fast as it goes (qps 0); keep-alive or not. */
export async function fortio(o: {
  client: ClientContext;
  url: string;
  qps: number;
  connections: number;
  seconds: number;
  keepAlive: boolean;
  payloadBytes: number;
  jsonPath: string;
}): Promise<FortioRun> {
  const args = [
    'load',
    '-qps',
    String(o.qps),
    '-c',
    String(o.connections),
    '-t',
    `${o.seconds}s`,
    '-p',
    '50,99,99.9',
    '-loglevel',
    'Error',
    '-json',
    o.jsonPath,
  ];
  if (o.client.fortioStdClient) args.push('-stdclient');
  if (!o.keepAlive) args.push('-keepalive=false');
  if (o.payloadBytes > 0) args.push('-payload-size', String(o.payloadBytes));
  args.push(o.url);
  await runTool(o.client, 'fortio', args, (o.seconds + 60) * 1000);
  const text = await readFile(o.jsonPath, 'utf8');
  return { ...parseFortioJson(text), ...parseFortioVolume(text) };
}

export function parseFortioVolume(text: string): { seconds: number; bytes: number } {
  const j = JSON.parse(text) as { ActualDuration?: number; Sizes?: { Sum?: number } };
  if (typeof j.ActualDuration !== 'number' || typeof j.Sizes?.Sum !== 'number')
    throw new Error('fortio: no ActualDuration or Sizes.Sum in output');
  return { seconds: j.ActualDuration / 1e9, bytes: j.Sizes.Sum };
}

/** wrk with one thread, every request a POST of `payloadBytes` (the same as fortio's -payload-size). */
export async function wrk(o: {
  client: ClientContext;
  url: string;
  connections: number;
  seconds: number;
  closeEachRequest: boolean;
  scriptPath: string;
  payloadBytes: number;
}): Promise<MaxRateResult> {
  await writeFile(
    o.scriptPath,
    `wrk.method = "POST"\nwrk.body = string.rep("x", ${o.payloadBytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
  );
  const args = [
    '-t1',
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    '-s',
    o.scriptPath,
  ];
  if (o.closeEachRequest) args.push('-H', 'Connection: close');
  args.push(o.url);
  return parseWrkOutput(await runTool(o.client, 'wrk', args, (o.seconds + 60) * 1000));
}

export async function iperf3(o: {
  client: ClientContext;
  host: string;
  port: number;
  seconds: number;
  omitSeconds: number;
}): Promise<IperfResult> {
  const out = await runTool(
    o.client,
    'iperf3',
    [
      '-c',
      o.host,
      '-p',
      String(o.port),
      '-P',
      '1',
      '-t',
      String(o.seconds),
      '-O',
      String(o.omitSeconds),
      '-J',
    ],
    (o.seconds + o.omitSeconds + 60) * 1000,
  );
  return parseIperfJson(out);
}
