// ambit-controller: `node packages/controller/src/main.ts [flags]` (config.ts lists them).
// Kubernetes mode by default; --manifests <dir> runs file mode for the local demo.

import { createLogger } from '@ambit/core/log';
import { loadConfig, USAGE } from './config.ts';
import { Controller } from './controller.ts';
import { FileController } from './file-mode/file-controller.ts';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`ambit-controller: ${(err as Error).message}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger({
    level: config.logLevel,
    fields: { component: 'controller', replica: config.identity },
  });
  const running =
    config.mode === 'file'
      ? await FileController.start(config, { log })
      : await Controller.start(config, { log });
  log.info('controller started', {
    mode: config.mode,
    port: running.addresses().stream.port,
    monitoring: running.addresses().monitoring.port,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  await (running instanceof Controller ? running.stop({ release: true }) : running.stop());
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ambit-controller: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
