// Do: puts ambit-cni on the node (binary into the CNI bin dir, entry at the end of the chain in
// the runtime's conflist) and takes it off again. Every write is atomic; installing twice is the
// same as once; uninstall leaves the rest of the conflist as it was.

import { chmod, copyFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CniConflistError } from '@ambit/core/errors';
import {
  PLUGIN_TYPE,
  hasAmbitPlugin,
  pickCniConfig,
  withAmbitPlugin,
  withoutAmbitPlugin,
} from './conflist.ts';
import { writeFileAtomic } from './write-file-atomic.ts';

export interface CniInstallOptions {
  /** The built ambit-cni executable (packages/cni-plugin/build/ambit-cni). */
  pluginBinary: string;
  /** Where the runtime looks for plugins (e.g. /opt/cni/bin). */
  cniBinDir: string;
  /** Where the runtime reads its network config (e.g. /etc/cni/net.d). */
  cniConfDir: string;
  /** Extra keys of the ambit-cni entry (agentSocket, timeoutMs). */
  pluginConfig: Readonly<Record<string, unknown>>;
}

async function conflistPath(confDir: string): Promise<string> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (err) {
    throw new CniConflistError(`cannot read the CNI config dir ${confDir}`, { cause: err });
  }
  const name = pickCniConfig(names);
  if (name === undefined) throw new CniConflistError(`no CNI network config in ${confDir}`);
  return join(confDir, name);
}

/** Installs the binary and the conflist entry. Returns the conflist it edited. */
export async function installCni(opts: CniInstallOptions): Promise<string> {
  const bin = join(opts.cniBinDir, PLUGIN_TYPE);
  const tmp = join(opts.cniBinDir, `.${PLUGIN_TYPE}.tmp`);
  // copy + rename: a runtime starting ambit-cni mid-install runs the old or the new binary, whole.
  await copyFile(opts.pluginBinary, tmp);
  await chmod(tmp, 0o755);
  await rename(tmp, bin);
  const file = await conflistPath(opts.cniConfDir);
  const text = await readFile(file, 'utf8');
  const next = withAmbitPlugin(text, opts.pluginConfig, file);
  if (next !== text) await writeFileAtomic(file, next);
  return file;
}

/** Removes the conflist entry and the binary. Absent pieces are fine. */
export async function uninstallCni(
  opts: Pick<CniInstallOptions, 'cniBinDir' | 'cniConfDir'>,
): Promise<void> {
  let file: string | undefined;
  try {
    file = await conflistPath(opts.cniConfDir);
  } catch {
    file = undefined;
  }
  if (file !== undefined) {
    const text = await readFile(file, 'utf8');
    // Untouched (byte for byte) unless it holds an ambit-cni entry.
    if (hasAmbitPlugin(text, file)) await writeFileAtomic(file, withoutAmbitPlugin(text, file));
  }
  await rm(join(opts.cniBinDir, PLUGIN_TYPE), { force: true });
}
