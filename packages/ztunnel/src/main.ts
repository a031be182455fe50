// The ztunnel binary: `node packages/ztunnel/src/main.ts --config-file mesh.yaml --node-name node-a`.
// Flags and environment → config.ts; then Ztunnel.start; SIGTERM/SIGINT → graceful drain, exit 0.
// A bad configuration exits 2 with the reason; a failure to start exits 1.

import { MeshError } from '@ambit/core/errors';
import { loadConfig, USAGE } from './config.ts';
import { Ztunnel } from './ztunnel.ts';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`ztunnel: ${(err as Error).message}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let z: Ztunnel;
  try {
    z = await Ztunnel.start({ config });
  } catch (err) {
    const code = err instanceof MeshError ? ` [${err.code}]` : '';
    process.stderr.write(`ztunnel: cannot start${code}: ${(err as Error).message}\n`);
    return err instanceof MeshError && err.code === 'AMBIT_LOCAL_CONFIG' ? 2 : 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      z.log.info('signal received: draining', { signal, deadlineMs: config.drainDeadlineMs });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const r = await z.shutdown();
  z.log.info('drained', { ...r });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ztunnel: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
