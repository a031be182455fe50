// The controller's two authenticators, both on TokenReview + caller-policy.ts: one for the CA
// (CaService's `authenticate`) and one for the config stream (ConfigStreamServer's). A caller
// lookup reads the informer caches and asks the API server on a miss (a pod created a moment ago
// may not be in the cache yet; a refusal would only make ztunnel retry later).

import type { CaAuthenticator } from '@ambit/core/ca-service/server';
import { parseSpiffeId } from '@ambit/core/identity/spiffe-id';
import type { StreamAuthenticator } from '../stream/config-stream-server.ts';
import type { ClusterWatcher } from '../kube/cluster-watcher.ts';
import { AMBIT_GROUP, AMBIT_VERSION } from '../kube/cluster-watcher.ts';
import { apiStatus, type KubeClients } from '../kube/kube-clients.ts';
import type { Waypoint } from '../translate/cluster-state.ts';
import {
  authorizeIdentity,
  identifyCaller,
  type CallerLookup,
  type CallerPolicy,
} from './caller-policy.ts';
import type { TokenReviewer } from './token-review.ts';

export interface AuthenticatorDeps {
  review: TokenReviewer;
  policy: CallerPolicy;
  lookup: CallerLookup;
}

export function createCaAuthenticator(deps: AuthenticatorDeps): CaAuthenticator {
  return async (token, requestedId) => {
    const reviewed = await deps.review(token);
    if (!reviewed.ok)
      return { allowed: false, status: 401, reason: `TokenInvalid: ${reviewed.reason}` };
    const caller = await identifyCaller(reviewed.token, deps.policy, deps.lookup);
    if (!caller.ok) return { allowed: false, status: caller.status, reason: caller.reason };
    const parts = parseSpiffeId(requestedId);
    return authorizeIdentity(
      caller.caller,
      { namespace: parts.namespace, serviceAccount: parts.serviceAccount },
      deps.lookup,
    );
  };
}

export function createStreamAuthenticator(deps: AuthenticatorDeps): StreamAuthenticator {
  return async (token) => {
    const reviewed = await deps.review(token);
    if (!reviewed.ok) return { ok: false, status: 401, reason: `TokenInvalid: ${reviewed.reason}` };
    const caller = await identifyCaller(reviewed.token, deps.policy, deps.lookup);
    if (!caller.ok) return { ok: false, status: caller.status, reason: caller.reason };
    return { ok: true, identity: caller.caller };
  };
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (apiStatus(err) === 404) return undefined;
    throw err;
  }
}

/** Cache first (when a watcher is given), the API server on a miss. */
export function createCallerLookup(clients: KubeClients, watcher?: ClusterWatcher): CallerLookup {
  return {
    async pod(namespace, name) {
      const cached = watcher?.get('pods', namespace, name);
      if (cached !== undefined) return cached;
      return await orUndefined(clients.core.readNamespacedPod({ namespace, name }));
    },
    async podsOnNode(node, opts) {
      if (watcher?.synced && opts?.fresh !== true) {
        return watcher.cached('pods').filter((p) => p.spec?.nodeName === node);
      }
      const list = await clients.core.listPodForAllNamespaces({
        fieldSelector: `spec.nodeName=${node}`,
      });
      return list.items;
    },
    async waypoint(namespace, name) {
      const cached = watcher?.get('waypoints', namespace, name);
      if (cached !== undefined) return cached;
      return await orUndefined(
        clients.custom.getNamespacedCustomObject({
          group: AMBIT_GROUP,
          version: AMBIT_VERSION,
          namespace,
          plural: 'waypoints',
          name,
        }) as Promise<Waypoint>,
      );
    },
  };
}
