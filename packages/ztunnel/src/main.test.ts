// The binary as an operator runs it: a bad config exits 2 with the field at fault; a good one
// starts, and SIGTERM drains and exits 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '@ambit/netns/testing/temp-netns';

const MAIN = join(import.meta.dirname, 'main.ts');
let dir: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ambit-main-'));
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function run(
  args: string[],
  /** Run as uid/gid 65534 (nobody: no capabilities) through setpriv. */
  asNobody = false,
): {
  lines: string[];
  stderr: () => string;
  exit: Promise<number | null>;
  kill: (s: NodeJS.Signals) => void;
} {
  const argv = [process.execPath, MAIN, ...args];
  const [cmd = '', ...rest] = asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv]
    : argv;
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  let err = '';
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return {
    lines,
    stderr: () => err,
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    kill: (s) => child.kill(s),
  };
}

const PORTS = [
  '--admin-addr',
  '127.0.0.1:0',
  '--metrics-addr',
  '127.0.0.1:0',
  '--readiness-addr',
  '127.0.0.1:0',
  '--socks5-addr',
  '127.0.0.1:0',
];

describe('ztunnel main.ts', () => {
  it('exits 2 naming the field when the config file is malformed', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'workloads: [{ name: w, node: n, ip: 10.0.0.999 }]\n');
    const p = run([
      '--config-file',
      file,
      '--node-name',
      'n',
      '--ca-dir',
      join(dir, 'ca'),
      ...PORTS,
    ]);
    expect(await p.exit).toBe(2);
    expect(p.stderr()).toContain('AMBIT_LOCAL_CONFIG');
    expect(p.stderr()).toContain('workloads[0].ip');
  });

  it('exits 2 with the usage when no config source is given', async () => {
    const p = run(['--node-name', 'n']);
    expect(await p.exit).toBe(2);
    expect(p.stderr()).toContain('--config-file');
  });

  it('in-pod mode without root exits 1 saying what it needs (root only: drops to nobody)', async () => {
    requireRoot();
    const home = join(dir, 'nobody');
    await mkdir(home, { mode: 0o777 });
    await chmod(home, 0o777);
    await chmod(dir, 0o755);
    const file = join(home, 'mesh.yaml');
    await writeFile(file, '{}\n', { mode: 0o644 });
    const p = run(
      [
        '--config-file',
        file,
        '--node-name',
        'n',
        '--ca-dir',
        join(home, 'ca'),
        ...PORTS,
        '--inpod-socket',
        join(home, 'zt.sock'),
      ],
      true,
    );
    expect(await p.exit).toBe(1);
    expect(p.stderr()).toMatch(/AMBIT_INPOD_CAPTURE.*needs CAP_SYS_ADMIN and CAP_NET_ADMIN/);
  });

  it('starts, and drains and exits 0 on SIGTERM', async () => {
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, '{}\n');
    const p = run([
      '--config-file',
      file,
      '--node-name',
      'n',
      '--ca-dir',
      join(dir, 'ca'),
      ...PORTS,
    ]);
    await expect
      .poll(() => p.lines.some((l) => l.includes('"ztunnel started"')), { timeout: 20_000 })
      .toBe(true);
    p.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(p.lines.some((l) => l.includes('"drained"'))).toBe(true);
  });
});
