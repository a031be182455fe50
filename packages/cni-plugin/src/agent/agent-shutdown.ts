// Do: the node agent's stop, as shutdown-decision.ts planned it.
//
// Restart (the default): stop serving CNI and talking to ztunnel; everything else stays. Captured
// pods stay captured (ztunnel keeps serving them), ambit-cni stays in the conflist so new pods wait
// (CNI "try again") for the next agent rather than start uncaptured, and the next agent re-syncs
// from the state file.
//
// Uninstall: first take ambit-cni off the node (conflist entry, then binary), so pods created from
// now on start plain; then release every enrolled pod (NodeAgent.releaseAll: rules, probe table,
// ztunnel, annotations, state file) while the CNI socket still answers; then stop.

import type { Logger } from '@ambit/core/log';
import type { CniServer } from './cni-server.ts';
import { uninstallCni } from './install-cni.ts';
import type { NodeAgent, ReleaseSummary } from './node-agent.ts';
import type { ShutdownPlan } from './shutdown-decision.ts';

export interface AgentShutdownParts {
  plan: ShutdownPlan;
  agent: NodeAgent;
  server: CniServer;
  /** Where ambit-cni was installed (the config's `install`); undefined: not installed by the agent. */
  install: { cniBinDir: string; cniConfDir: string } | undefined;
  log: Logger;
}

/** Never throws: each step's failure is logged and the next step still runs. */
export async function shutdownAgent(
  parts: AgentShutdownParts,
): Promise<ReleaseSummary | undefined> {
  const { plan, agent, server, install, log } = parts;
  if (!plan.uninstall) {
    log.info('stopping for a restart: pods stay captured, ambit-cni stays installed', {
      reason: plan.reason,
    });
    await Promise.all([server.close(), agent.close()]);
    return undefined;
  }
  log.warn('stopping for an uninstall: removing ambit-cni and releasing every pod', {
    reason: plan.reason,
  });
  agent.setUninstalling(true);
  if (install !== undefined) {
    await uninstallCni(install).then(
      () =>
        log.info('uninstall: ambit-cni removed from the CNI config and bin dir', {
          cniConfDir: install.cniConfDir,
          cniBinDir: install.cniBinDir,
        }),
      (err: unknown) => log.error('uninstall: could not remove ambit-cni from the node', { err }),
    );
  }
  const summary = await agent.releaseAll();
  await Promise.all([server.close(), agent.close()]);
  log.info('uninstall done: the node is as it was before Ambit');
  return summary;
}
