// ambit-node-agent: `run` serves ambit-cni and hands pods to ztunnel (installing the plugin first
// when the config has an `install` section); `install` / `uninstall` only edit the node's CNI setup.

import { watchFile } from 'node:fs';
import { createLogger } from '@ambit/core/log';
import { CniServer } from './cni-server.ts';
import { loadAgentConfig } from './config.ts';
import { installCni, uninstallCni } from './install-cni.ts';
import { LocalPodSource } from './local-pod-source.ts';
import { NodeAgent } from './node-agent.ts';

const log = createLogger({ fields: { component: 'ambit-node-agent' } });

async function main(): Promise<void> {
  const cfg = await loadAgentConfig(process.argv.slice(2));
  const pluginConfig = { agentSocket: cfg.cniSocket, timeoutMs: cfg.install?.timeoutMs };
  if (cfg.command === 'uninstall') {
    await uninstallCni(cfg.install!);
    log.info('ambit-cni uninstalled');
    return;
  }
  if (cfg.install) {
    const file = await installCni({ ...cfg.install, pluginConfig });
    log.info('ambit-cni installed', { conflist: file });
  }
  if (cfg.command === 'install') return;

  const source = new LocalPodSource(cfg.podsFile);
  await source.reload();
  watchFile(cfg.podsFile, { interval: 1000 }, () => {
    source
      .reload()
      .catch((err: unknown) => log.error('pods file refused; keeping the last good copy', { err }));
  });
  const agent = new NodeAgent({
    node: cfg.node,
    source,
    stateFile: cfg.stateFile,
    ztunnel: { socketPath: cfg.ztunnelSocket, ackTimeoutMs: cfg.ackTimeoutMs },
    ...(cfg.probeSnat ? { probeSnat: cfg.probeSnat } : {}),
    logger: log,
  });
  const server = new CniServer({
    socketPath: cfg.cniSocket,
    handle: (req) => agent.handleCni(req),
  });
  // Listen first: ambit-cni calls that arrive while the agent reconciles wait in its queue.
  await server.listen();
  await agent.start();
  log.info('node agent ready', { cniSocket: cfg.cniSocket, ztunnelSocket: cfg.ztunnelSocket });
  const stop = (): void => {
    void Promise.all([server.close(), agent.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  log.error('node agent failed', { err });
  process.exit(1);
});
