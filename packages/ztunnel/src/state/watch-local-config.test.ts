import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalConfigError } from '@ambit/core/errors';
import type { MeshSnapshot } from './mesh-snapshot.ts';
import { MeshState } from './mesh-state.ts';
import { watchLocalConfig, type LocalConfigWatcher } from './watch-local-config.ts';

const config = (ip: string) => `
workloads:
  - { name: a, namespace: ns, node: n1, ip: ${ip} }
`;

async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Collects the watcher's callbacks as awaitable events. */
function events() {
  const queue: Array<{ kind: 'reload'; snapshot: MeshSnapshot } | { kind: 'error'; err: Error }> =
    [];
  let wake: (() => void) | undefined;
  const push = (e: (typeof queue)[number]) => {
    queue.push(e);
    wake?.();
  };
  return {
    onReload: (snapshot: MeshSnapshot) => push({ kind: 'reload', snapshot }),
    onError: (err: Error) => push({ kind: 'error', err }),
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return queue.shift()!;
    },
  };
}

describe('watchLocalConfig', () => {
  let dir: string;
  let file: string;
  let watcher: LocalConfigWatcher | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-local-config-'));
    file = join(dir, 'mesh.yaml');
  });
  afterEach(async () => {
    watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the file, reloads on change, and keeps the last good config when an edit is bad', async () => {
    await writeFile(file, config('127.0.1.1'));
    const state = new MeshState();
    const ev = events();
    watcher = await watchLocalConfig(file, state, { ...ev, pollIntervalMs: 100 });
    expect(state.current.lookup('127.0.1.1')).toMatchObject({ kind: 'workload' });
    const good = state.current;
    expect(await ev.next()).toEqual({ kind: 'reload', snapshot: good });

    // A bad edit: reported with the field, nothing applied. (Edits are written the way editors
    // do, a new file renamed over the old, so no poll sees a half-written file.)
    await replaceFile(file, config('127.0.1.300'));
    const bad = await ev.next();
    expect(bad.kind).toBe('error');
    expect(bad.kind === 'error' && bad.err).toBeInstanceOf(LocalConfigError);
    expect(bad.kind === 'error' && bad.err.message).toContain(
      'workloads[0].ip: "127.0.1.300" is not an IP address',
    );
    expect(state.current).toBe(good);

    // The fix: applied.
    await replaceFile(file, config('127.0.1.2'));
    const next = await ev.next();
    if (next.kind === 'error') throw next.err;
    expect(next.snapshot).toBe(state.current);
    expect(state.current.lookup('127.0.1.2')).toMatchObject({ kind: 'workload' });
    expect(state.current.lookup('127.0.1.1')).toBeUndefined();
  });

  it('refuses to start from a bad file, with the field in the message', async () => {
    await writeFile(file, 'workloads: [{ name: a, node: n1, ip: nope }]\n');
    const state = new MeshState();
    await expect(watchLocalConfig(file, state, { pollIntervalMs: 0 })).rejects.toThrow(
      /workloads\[0\]\.ip: "nope" is not an IP address/,
    );
    expect(state.current.generation).toBe(0);
    await expect(
      watchLocalConfig(join(dir, 'missing.yaml'), state, { pollIntervalMs: 0 }),
    ).rejects.toThrow(LocalConfigError);
  });
});
