// Keeps a MeshState in step with a local config file: loads it, then reloads it whenever it
// changes. A bad edit is reported and ignored (the last good config keeps serving) until the file
// is fixed, just as a bad config-stream update is NACKed.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { LocalConfigError } from '@ambit/core/errors';
import { parseLocalConfig } from '../local-config.ts';
import type { MeshSnapshot } from './mesh-snapshot.ts';
import type { MeshState } from './mesh-state.ts';

export interface WatchLocalConfigOptions {
  /** A reload was refused (bad YAML, invalid field, conflict); the previous config stays. */
  onError?(err: Error): void;
  /** A reload was applied. */
  onReload?(snapshot: MeshSnapshot): void;
  /**
   * Also re-read the file this often, for file systems where change notifications get lost
   * (network mounts, some container overlays). Default 2000 ms; 0 turns it off.
   */
  pollIntervalMs?: number;
  /** Wait this long after the last change notification before reading (default 50 ms). */
  debounceMs?: number;
}

export interface LocalConfigWatcher {
  /** Re-reads the file now (what the watcher does on a change); resolves once applied or refused. */
  reload(): Promise<void>;
  close(): void;
}

/**
 * Loads `path` into `state` and watches it. The first load must succeed: a bad file at start-up
 * rejects with LocalConfigError so the process fails with a clear message.
 */
export async function watchLocalConfig(
  path: string,
  state: MeshState,
  opts: WatchLocalConfigOptions = {},
): Promise<LocalConfigWatcher> {
  let lastText: string | undefined;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;

  const readOnce = async (initial: boolean): Promise<void> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const e = new LocalConfigError(`cannot read config file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
      if (initial) throw e;
      // Editors replace files by rename: a moment without the file is normal. Report it once.
      if (lastText !== undefined) opts.onError?.(e);
      lastText = undefined;
      return;
    }
    if (text === lastText || closed) return; // unchanged (or already reported as bad)
    lastText = text;
    try {
      const snapshot = state.replace(parseLocalConfig(text, path));
      opts.onReload?.(snapshot);
    } catch (err) {
      if (initial) throw err;
      opts.onError?.(err as Error);
    }
  };

  /** Serializes reloads; a change during a reload triggers one more. */
  const reload = (): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await readOnce(false);
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  await readOnce(true);

  // Watch the directory, not the file: editors and `kubectl cp`/ConfigMap updates replace the
  // file (a new inode), which a watch on the file itself would miss.
  const name = basename(path);
  let watcher: FSWatcher | undefined;
  try {
    let debounce: NodeJS.Timeout | undefined;
    watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      // A save is often several events (truncate, write, rename): read once they settle.
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), opts.debounceMs ?? 50);
      debounce.unref();
    });
    watcher.on('error', (err) => opts.onError?.(err));
  } catch (err) {
    opts.onError?.(
      new LocalConfigError(`cannot watch ${path}; relying on polling: ${(err as Error).message}`, {
        cause: err,
      }),
    );
  }
  const interval = opts.pollIntervalMs ?? 2000;
  const timer = interval > 0 ? setInterval(() => void reload(), interval) : undefined;
  timer?.unref();

  return {
    reload,
    close() {
      closed = true;
      watcher?.close();
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
