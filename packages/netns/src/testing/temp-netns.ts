// Test helper: throw-away network namespaces made with iproute2 (`ip netns add ambit-test-<random>`).
// Root only; tests call requireRoot() first so that a non-root run fails with a clear message.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TempNetns {
  name: string;
  /** /run/netns/<name>, for socketInNetns. */
  path: string;
  /** Runs a command inside the netns (`ip netns exec`); throws with its stderr on failure. */
  exec(cmd: string, ...args: string[]): string;
  /** Deletes the netns (idempotent). */
  remove(): void;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Throws unless running as root: these tests need network namespaces (CI runs as root). */
export function requireRoot(): void {
  if (!isRoot()) {
    throw new Error(
      'this test needs root (it creates network namespaces with `ip netns add`); run it as root, as CI does',
    );
  }
}

/** A new netns with loopback up (127.0.0.1 and ::1). */
export function createTempNetns(): TempNetns {
  requireRoot();
  const name = `ambit-test-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  let removed = false;
  const ns: TempNetns = {
    name,
    path: `/run/netns/${name}`,
    exec: (cmd, ...args) =>
      execFileSync('ip', ['netns', 'exec', name, cmd, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    remove: () => {
      if (removed) return;
      removed = true;
      execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    },
  };
  ns.exec('ip', 'link', 'set', 'lo', 'up');
  return ns;
}
