// Builds the native addon (build/Release/ambit_netns.node) with node-gyp against the headers of the
// Node that runs this script. Run by `pnpm install` (this package's "install" script) and by hand:
//   scripts/with-toolchain node packages/netns/src/build-addon.ts
// node-gyp must never download headers: they come from npm_config_nodedir (exported by
// scripts/toolchain.sh) or from the running Node's own prefix (<execPath>/../include/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The first directory holding include/node/node_api.h, or undefined. */
function findNodeDir(): string | undefined {
  const candidates = [process.env['npm_config_nodedir'], resolve(dirname(process.execPath), '..')];
  return candidates.find(
    (dir): dir is string => !!dir && existsSync(join(dir, 'include', 'node', 'node_api.h')),
  );
}

const nodeDir = findNodeDir();
if (!nodeDir) {
  console.error(
    '@ambit/netns: no Node.js headers found (looked in $npm_config_nodedir and ' +
      `${resolve(dirname(process.execPath), '..', 'include', 'node')}). Run through ` +
      'scripts/with-toolchain, whose Node package ships include/node; headers are never downloaded.',
  );
  process.exit(1);
}

const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const res = spawnSync(
  process.execPath,
  [nodeGyp, 'rebuild', '--loglevel=warn', `--nodedir=${nodeDir}`],
  {
    cwd: packageDir,
    stdio: ['ignore', 'inherit', 'inherit'],
    // node-gyp reads npm_config_* too; pin the header dir there as well so nothing else wins.
    env: { ...process.env, npm_config_nodedir: nodeDir },
  },
);
if (res.status !== 0) {
  console.error(`@ambit/netns: node-gyp rebuild failed (exit ${res.status ?? res.signal})`);
  process.exit(1);
}
