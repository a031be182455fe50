// Starts the benchmark's long-lived processes (backends, proxies) and guarantees they are all
// stopped, by PID, whatever happens: normal end, thrown error, Ctrl-C, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
}

export class ProcessGroup {
  readonly #procs: Started[] = [];
  readonly #logDir: string;
  readonly #onExit = (): void => this.killNow();
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    this.killNow();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  constructor(logDir: string) {
    this.#logDir = logDir;
    process.on('exit', this.#onExit);
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  /** Spawns `cmd args`, stdout/stderr to <logDir>/<name>.log; resolves when `ready` resolves. */
  async start(
    name: string,
    cmd: string,
    args: readonly string[],
    ready: (s: Started, signal: AbortSignal) => Promise<void>,
    timeoutMs = 20_000,
  ): Promise<Started> {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) {
      throw new Error(`${name}: could not start ${cmd}`);
    }
    const s: Started = { name, pid: child.pid, child };
    this.#procs.push(s);
    const log = createWriteStream(`${this.#logDir}/${name}.log`);
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, sig) =>
        reject(new Error(`${name} exited (${code ?? sig}); see ${this.#logDir}/${name}.log`)),
      );
      child.once('error', reject);
    });
    exited.catch(() => undefined);
    const stopWaiting = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${name}: not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ready(s, stopWaiting.signal), exited, timeout]);
    } finally {
      clearTimeout(timer);
      stopWaiting.abort();
    }
    return s;
  }

  /** Synchronous SIGKILL of everything still running (used on exit and signals). */
  killNow(): void {
    for (const p of this.#procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** SIGTERM each process, then SIGKILL what is left after graceMs. */
  async stopAll(graceMs = 2000): Promise<void> {
    const alive = this.#procs.filter(
      (p) => p.child.exitCode === null && p.child.signalCode === null,
    );
    await Promise.all(
      alive.map(
        (p) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              try {
                process.kill(p.pid, 'SIGKILL');
              } catch {
                // gone
              }
              resolve();
            }, graceMs);
            p.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            try {
              process.kill(p.pid, 'SIGTERM');
            } catch {
              clearTimeout(t);
              resolve();
            }
          }),
      ),
    );
    process.off('exit', this.#onExit);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}

/** Resolves when the process prints a line on stdout equal to `want` (trimmed), or matching it. */
export function printsLine(want: string | RegExp): (s: Started) => Promise<void> {
  const matches = (l: string): boolean =>
    typeof want === 'string' ? l.trim() === want : want.test(l);
  return (s) =>
    new Promise<void>((resolve) => {
      let buf = '';
      const onData = (chunk: Buffer): void => {
        buf += chunk.toString('utf8');
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        if (lines.some(matches)) {
          s.child.stdout?.off('data', onData);
          resolve();
        }
      };
      s.child.stdout?.on('data', onData);
    });
}

/** Resolves when a TCP connect to 127.0.0.1:port succeeds (polling every 50 ms until aborted). */
export function acceptsOn(port: number): (s: Started, signal: AbortSignal) => Promise<void> {
  return async (_s, signal) => {
    while (!signal.aborted) {
      const ok = await new Promise<boolean>((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port }, () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
}

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}
