// Decide: on SIGTERM, is the node agent being uninstalled (release every pod, take ambit-cni off
// the node) or only restarted/upgraded (leave everything as it is; the next agent re-syncs)? Pure:
// the facts come from own-daemonset.ts (the watch of the agent's own DaemonSet and one fresh GET).
//
// The DaemonSet is the signal, as in Istio's CNI agent: a rolling restart or `helm upgrade` keeps
// it; `helm uninstall` (or `kubectl delete`) deletes it before the garbage collector stops its pods.
// Helm deletes DaemonSets before RBAC and ServiceAccounts, so by the time the agent is told to stop
// the GET normally answers 404; if the release's RBAC or ServiceAccount went first it answers
// 403/401, which also means uninstall, but only for an agent that could read its DaemonSet before
// (an agent that never could has misconfigured RBAC and must not release pods on every restart).
//
// The fresh GET decides when it answers: a DaemonSet that is there again (deleted and recreated,
// e.g. an uninstall immediately followed by an install) means the next agent takes the pods over,
// so nothing is released even if the watch saw a deletion. The watch decides when the GET fails.

/** What the watch of the agent's own DaemonSet last saw. */
export type DaemonSetView =
  /** Not listed yet (or the list keeps failing). */
  | 'unknown'
  | 'present'
  /** There, with a deletionTimestamp (foreground deletion). */
  | 'deleting'
  /** Listed and not there (deleted, or never created). */
  | 'absent';

/** The answer of one GET of the DaemonSet at shutdown. */
export type DaemonSetProbe =
  | { kind: 'present'; deleting: boolean }
  | { kind: 'not-found' }
  /** 401 (the ServiceAccount is gone, so its token is invalid) or 403 (its RBAC is gone). */
  | { kind: 'refused'; status: number }
  /** Unreachable API server, timeout, 5xx: says nothing. */
  | { kind: 'failed'; error: string };

export interface ShutdownFacts {
  /** `namespace/name` of the agent's DaemonSet; undefined when not configured (development). */
  daemonSet: string | undefined;
  watched: DaemonSetView;
  /** The watch saw the DaemonSet present at least once (so the agent's RBAC did allow reading it). */
  seen: boolean;
  probe: DaemonSetProbe | undefined;
}

export interface ShutdownPlan {
  uninstall: boolean;
  /** One sentence for the log: why. */
  reason: string;
}

/** True while the watch says the DaemonSet is going (the agent then captures no new pods). */
export function watchSaysUninstalling(watched: DaemonSetView, seen: boolean): boolean {
  return watched === 'deleting' || (watched === 'absent' && seen);
}

export function decideShutdown(f: ShutdownFacts): ShutdownPlan {
  const keep = (reason: string): ShutdownPlan => ({ uninstall: false, reason });
  const uninstall = (reason: string): ShutdownPlan => ({ uninstall: true, reason });
  const ds = f.daemonSet;
  if (ds === undefined) {
    return keep('no DaemonSet configured (--daemonset): a stop is taken for a restart');
  }
  const p = f.probe ?? { kind: 'failed', error: 'not asked' };
  switch (p.kind) {
    case 'present':
      return p.deleting
        ? uninstall(`DaemonSet ${ds} is being deleted`)
        : keep(`DaemonSet ${ds} is still there: a restart or upgrade`);
    case 'not-found':
      return uninstall(`DaemonSet ${ds} is gone (404)`);
    case 'refused':
      if (f.seen || watchSaysUninstalling(f.watched, f.seen)) {
        return uninstall(
          `the API server refuses to show DaemonSet ${ds} (${p.status}): the release's RBAC or ServiceAccount is gone`,
        );
      }
      return keep(
        `the API server refuses to show DaemonSet ${ds} (${p.status}) and never showed it: check the agent's RBAC; taken for a restart`,
      );
    case 'failed':
      if (watchSaysUninstalling(f.watched, f.seen)) {
        return uninstall(
          `the watch saw DaemonSet ${ds} ${f.watched === 'deleting' ? 'being deleted' : 'deleted'} (GET failed: ${p.error})`,
        );
      }
      return keep(
        `cannot tell (GET of DaemonSet ${ds} failed: ${p.error}; the watch saw it ${f.watched}): taken for a restart`,
      );
  }
}
