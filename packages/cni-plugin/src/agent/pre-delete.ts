// `ambit-node-agent pre-delete`: the chart's pre-delete hook (a Job run by `helm uninstall` before
// it deletes anything). It deletes the node agent DaemonSets with foreground propagation and
// waits until they are gone, so every agent stops *while the release's RBAC still exists*: each
// agent sees its DaemonSet being deleted, takes ambit-cni out of its node, releases its pods and
// removes their `ambit.dev/enrolled` annotations. Without the hook, helm deletes the DaemonSets
// and the RBAC in the same breath, and the agents' annotation patches are refused (403): the
// controller would then treat released pods as still in the mesh after a reinstall.
//
// It never fails the uninstall: a DaemonSet still there at the deadline is logged and the hook
// exits 0 (helm then deletes it as usual, and the agents fall back to their own shutdown check).

import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { CniAgentConfigError } from '@ambit/core/errors';
import type { Logger } from '@ambit/core/log';
import { apiStatus } from '@ambit/core/kube-api-status';

export interface PreDeleteOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The node agent DaemonSets, by name (the chart passes one per node group). */
  daemonSets: readonly string[];
  /** How long to wait for them to be gone. */
  timeoutMs: number;
  /** Between checks (1 s). */
  pollMs?: number;
  logger: Logger;
}

export interface PreDeleteResult {
  /** Deleted by this call and gone before the deadline. */
  removed: string[];
  /** Not there to begin with. */
  absent: string[];
  /** Still there at the deadline (their pods did not stop in time). */
  remaining: string[];
}

/** Deletes the DaemonSets (Foreground) and waits until each is gone or the deadline passes. */
export async function removeNodeAgents(opts: PreDeleteOptions): Promise<PreDeleteResult> {
  const apps = opts.kubeConfig.makeApiClient(AppsV1Api);
  const { namespace, logger: log } = opts;
  const absent: string[] = [];
  const waiting = new Set<string>();
  for (const name of opts.daemonSets) {
    try {
      // Foreground: the DaemonSet stays, with a deletionTimestamp, until its pods are gone, so
      // an agent's last look at it at SIGTERM says "being deleted" (an uninstall).
      await apps.deleteNamespacedDaemonSet({ name, namespace, propagationPolicy: 'Foreground' });
      waiting.add(name);
      log.info('deleting node agent DaemonSet (foreground)', { daemonSet: `${namespace}/${name}` });
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
      absent.push(name);
    }
  }
  const removed: string[] = [];
  const deadline = Date.now() + opts.timeoutMs;
  while (waiting.size > 0 && Date.now() < deadline) {
    for (const name of [...waiting]) {
      try {
        await apps.readNamespacedDaemonSet({ name, namespace });
      } catch (err) {
        if (apiStatus(err) !== 404) {
          log.warn('cannot read a node agent DaemonSet; still waiting', { daemonSet: name, err });
          continue;
        }
        waiting.delete(name);
        removed.push(name);
        log.info('node agent DaemonSet gone (its agents released their pods)', {
          daemonSet: `${namespace}/${name}`,
        });
      }
    }
    if (waiting.size > 0) await delay(opts.pollMs ?? 1000);
  }
  const remaining = [...waiting];
  if (remaining.length > 0) {
    log.warn('node agent DaemonSets still there at the deadline; helm deletes them next', {
      remaining,
      timeoutMs: opts.timeoutMs,
    });
  }
  return { removed, absent, remaining };
}

export interface PreDeleteArgs {
  namespace: string;
  daemonSets: string[];
  timeoutMs: number;
  kubeconfig?: string;
}

/** `pre-delete --namespace NS --daemonset NAME [--daemonset NAME…] [--timeout-seconds N] [--kubeconfig F]`. */
export function parsePreDeleteArgs(argv: readonly string[]): PreDeleteArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        namespace: { type: 'string' },
        daemonset: { type: 'string', multiple: true },
        'timeout-seconds': { type: 'string' },
        kubeconfig: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CniAgentConfigError(`pre-delete: ${(err as Error).message}`, { cause: err });
  }
  const namespace = values.namespace ?? '';
  if (namespace === '') throw new CniAgentConfigError('pre-delete: --namespace is required');
  const daemonSets = values.daemonset ?? [];
  if (daemonSets.length === 0 || daemonSets.some((d) => d === '')) {
    throw new CniAgentConfigError('pre-delete: at least one --daemonset NAME is required');
  }
  const seconds = Number(values['timeout-seconds'] ?? '120');
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    throw new CniAgentConfigError('pre-delete: --timeout-seconds must be 1 to 3600');
  }
  return {
    namespace,
    daemonSets,
    timeoutMs: seconds * 1000,
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
  };
}
