// ambit-node-agent: `run` serves ambit-cni and hands pods to ztunnel (installing the plugin first
// when the config has an `install` section); `install` / `uninstall` only edit the node's CNI setup;
// `pre-delete` is the chart's helm pre-delete hook (pre-delete.ts).

import { watchFile } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '@ambit/core/log';
import { shutdownAgent } from './agent-shutdown.ts';
import { CniServer } from './cni-server.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { installCni, uninstallCni } from './install-cni.ts';
import { KubePodSource } from './kube-pod-source.ts';
import { LocalPodSource } from './local-pod-source.ts';
import { NodeAgent } from './node-agent.ts';
import { OwnDaemonSet } from './own-daemonset.ts';
import { parsePreDeleteArgs, removeNodeAgents } from './pre-delete.ts';
import type { PodSource } from './pod-source.ts';
import { decideShutdown } from './shutdown-decision.ts';

/** Replaced by one at the configured level once the config is read. */
let log = createLogger({ fields: { component: 'ambit-node-agent' } });

/** The local pods file (reloaded when it changes), or the Kubernetes API (file or in-cluster). */
async function openPodSource(
  cfg: AgentConfig,
  logger: Logger,
): Promise<{ source: PodSource; kubeConfig?: KubeConfig }> {
  if ('file' in cfg.pods) {
    const local = new LocalPodSource(cfg.pods.file);
    await local.reload();
    watchFile(cfg.pods.file, { interval: 1000 }, () => {
      local
        .reload()
        .catch((err: unknown) =>
          logger.error('pods file refused; keeping the last good copy', { err }),
        );
    });
    return { source: local };
  }
  const kubeConfig = new KubeConfig();
  if (cfg.pods.kubeconfig === undefined) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(cfg.pods.kubeconfig);
  const kube = new KubePodSource({ kubeConfig, node: cfg.node, logger });
  await kube.start();
  logger.info('watching the Kubernetes API', { node: cfg.node });
  return { source: kube, kubeConfig };
}

async function preDelete(argv: readonly string[]): Promise<void> {
  const args = parsePreDeleteArgs(argv);
  const kubeConfig = new KubeConfig();
  if (args.kubeconfig === undefined) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(args.kubeconfig);
  const result = await removeNodeAgents({ kubeConfig, ...args, logger: log });
  log.info('pre-delete done', { ...result });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'pre-delete') return preDelete(process.argv.slice(3));
  const cfg = await loadAgentConfig(process.argv.slice(2));
  log = createLogger({ level: cfg.logLevel, fields: { component: 'ambit-node-agent' } });
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

  const { source, kubeConfig } = await openPodSource(cfg, log);
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
  // Its own DaemonSet tells an uninstall (deleted) from a restart (still there) at SIGTERM.
  const ownDs =
    cfg.daemonSet && kubeConfig
      ? new OwnDaemonSet({
          kubeConfig,
          ...cfg.daemonSet,
          logger: log,
          onChange: (_view, uninstalling) => agent.setUninstalling(uninstalling),
        })
      : undefined;
  // Listen first: ambit-cni calls that arrive while the agent reconciles wait in its queue.
  await server.listen();
  await ownDs?.start();
  await agent.start();
  log.info('node agent ready', {
    cniSocket: cfg.cniSocket,
    ztunnelSocket: cfg.ztunnelSocket,
    daemonSet: ownDs?.id ?? 'none (a stop is always a restart)',
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      const facts = ownDs
        ? await ownDs.shutdownFacts()
        : { daemonSet: undefined, watched: 'unknown' as const, seen: false, probe: undefined };
      const plan = decideShutdown(facts);
      log.info(`${signal}: ${plan.uninstall ? 'uninstall' : 'restart'}`, {
        reason: plan.reason,
        watched: facts.watched,
        probe: facts.probe?.kind,
      });
      await shutdownAgent({ plan, agent, server, install: cfg.install, log });
      await ownDs?.close();
      await source.close();
    })()
      .catch((err: unknown) => log.error('stopping failed', { err }))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  log.error('node agent failed', { err });
  process.exit(1);
});
