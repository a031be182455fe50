// Builds the JavaScript that Ambit's binaries ship as, into <repo>/build/:
//   build/hbone-pair.mjs  ← packages/core/src/bin/hbone-pair.ts (benchmark tunnel pair)
//   build/ztunnel.mjs     ← packages/ztunnel/src/main.ts
//   build/waypoint.mjs    ← packages/waypoint/src/main.ts
//   build/chunks/*.mjs    code shared between them, or loaded lazily (the CA code for `certs`)
// Why: Node's type stripping of .ts at run time costs ~18 MB of RSS per process (its TypeScript
// parser), and one bundle loads faster than hundreds of modules. The .ts sources stay the truth;
// tests and development run them directly.
//   node packages/core/src/bin/build-bundles.ts [--force]
// Cached: build/.bundles.json records every input file esbuild read (sources and node_modules)
// with a hash over their contents, this script, Node's and esbuild's versions; when nothing
// changed and the outputs exist, it prints "up to date" and does nothing.
// esbuild: ESM, platform node, target node24; external are only node: builtins (esbuild's default
// for platform node) and the native addon of @ambit/netns, which it loads at run time from
// `../build/Release/ambit_netns.node` relative to the module — in the bundle, relative to
// build/ztunnel.mjs — so its .node file is copied to build/Release/.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const OUT = join(ROOT, 'build');
const STAMP = join(OUT, '.bundles.json');

const ENTRIES: Record<string, string> = {
  'hbone-pair': 'packages/core/src/bin/hbone-pair.ts',
  ztunnel: 'packages/ztunnel/src/main.ts',
  waypoint: 'packages/waypoint/src/main.ts',
};
const ADDON = {
  from: 'packages/netns/build/Release/ambit_netns.node',
  to: 'build/Release/ambit_netns.node',
};
/** Bundled CommonJS dependencies may call require() for builtins: give ESM output one. */
const BANNER =
  "import { createRequire as __ambitCreateRequire } from 'node:module';\n" +
  'const require = __ambitCreateRequire(import.meta.url);';

interface Stamp {
  hash: string;
  inputs: string[];
}

/** esbuild (a devDependency of @ambit/core), loaded only when a build is due. */
async function loadEsbuild(): Promise<typeof Esbuild> {
  try {
    return await import('esbuild');
  } catch (err) {
    throw new Error(
      `esbuild is not installed (${(err as Error).message}); run scripts/with-toolchain true, which runs pnpm install`,
      { cause: err },
    );
  }
}

/** The esbuild version from its package.json (without loading esbuild itself). */
function esbuildVersion(): string {
  try {
    const pkg = join(ROOT, 'packages/core/node_modules/esbuild/package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

/** Hash over the given files (paths relative to ROOT) and everything else a bundle depends on. */
function hashOf(inputs: readonly string[]): string {
  const h = createHash('sha256');
  h.update(`node ${process.version}\nesbuild ${esbuildVersion()}\n`);
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  for (const f of [...inputs].sort()) {
    h.update(`\n${f}\n`);
    const abs = join(ROOT, f);
    h.update(existsSync(abs) ? readFileSync(abs) : 'missing');
  }
  return h.digest('hex');
}

function upToDate(): boolean {
  if (!existsSync(STAMP)) return false;
  for (const name of Object.keys(ENTRIES)) if (!existsSync(join(OUT, `${name}.mjs`))) return false;
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as Stamp;
    return stamp.hash === hashOf(stamp.inputs);
  } catch {
    return false;
  }
}

/** Builds the bundles unless up to date; returns the output directory. */
export async function buildBundles(opts: { force?: boolean; log?: (m: string) => void } = {}) {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[build] ${m}\n`));
  if (!opts.force && upToDate()) {
    log(`up to date: ${OUT}`);
    return OUT;
  }
  const { build } = await loadEsbuild();
  rmSync(STAMP, { force: true });
  rmSync(join(OUT, 'chunks'), { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const r = await build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir: OUT,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    banner: { js: BANNER },
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('<'));
  if (existsSync(join(ROOT, ADDON.from))) {
    mkdirSync(dirname(join(ROOT, ADDON.to)), { recursive: true });
    copyFileSync(join(ROOT, ADDON.from), join(ROOT, ADDON.to));
    inputs.push(ADDON.from);
  } else {
    log(`note: ${ADDON.from} is not built; build/ztunnel.mjs cannot use in-pod mode`);
  }
  const stamp: Stamp = { hash: hashOf(inputs), inputs };
  writeFileSync(STAMP, `${JSON.stringify(stamp, null, 1)}\n`);
  log(`built ${Object.keys(ENTRIES).join(', ')} into ${OUT} (${inputs.length} inputs)`);
  return OUT;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { force: { type: 'boolean', default: false } } });
  buildBundles({ force: values.force }).catch((err: unknown) => {
    process.stderr.write(`[build] failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
