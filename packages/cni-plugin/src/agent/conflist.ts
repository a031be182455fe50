// Decide: how the node's CNI network config changes when ambit-cni is installed or removed. Pure
// text in, text out; install-cni.ts does the file work.

import { CniConflistError } from '@ambit/core/errors';

export const PLUGIN_TYPE = 'ambit-cni';

/** The file a container runtime uses: the lexicographically first .conflist/.conf/.json. */
export function pickCniConfig(fileNames: readonly string[]): string | undefined {
  return fileNames.filter((f) => /\.(conflist|conf|json)$/.test(f) && !f.startsWith('.')).sort()[0];
}

function parse(text: string, file: string): { conf: Record<string, unknown>; plugins: unknown[] } {
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (err) {
    throw new CniConflistError(`${file}: not valid JSON`, { cause: err });
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    throw new CniConflistError(`${file}: not a JSON object`);
  }
  const plugins = (conf as Record<string, unknown>).plugins;
  if (!Array.isArray(plugins)) {
    throw new CniConflistError(
      `${file}: no "plugins" list (a single-plugin .conf cannot be chained; convert it to a .conflist)`,
    );
  }
  return { conf: conf as Record<string, unknown>, plugins: plugins as unknown[] };
}

const isAmbit = (p: unknown): boolean =>
  typeof p === 'object' && p !== null && (p as { type?: unknown }).type === PLUGIN_TYPE;

/**
 * The conflist with `entry` (type ambit-cni) as the last plugin of the chain; an ambit-cni entry
 * already there is replaced, so installing twice changes nothing. Every other field is kept.
 */
export function withAmbitPlugin(
  text: string,
  entry: Readonly<Record<string, unknown>>,
  file = 'conflist',
): string {
  const { conf, plugins } = parse(text, file);
  const next = {
    ...conf,
    plugins: [...plugins.filter((p) => !isAmbit(p)), { ...entry, type: PLUGIN_TYPE }],
  };
  return JSON.stringify(next, null, 2) + '\n';
}

/** The conflist without any ambit-cni entry; everything else as it was. */
export function withoutAmbitPlugin(text: string, file = 'conflist'): string {
  const { conf, plugins } = parse(text, file);
  return JSON.stringify({ ...conf, plugins: plugins.filter((p) => !isAmbit(p)) }, null, 2) + '\n';
}

/** True when the conflist has an ambit-cni entry. */
export function hasAmbitPlugin(text: string, file = 'conflist'): boolean {
  return parse(text, file).plugins.some(isAmbit);
}
