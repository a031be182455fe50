// Who may have which certificate, and who may subscribe to the config stream (DESIGN.md
// "Certificates"). Pure decisions over a reviewed token and a pod/waypoint lookup; table-tested.
//
// - ztunnel: the configured ztunnel ServiceAccount (default ambit-system/ztunnel), with a token
//   bound to one of its pods. That pod's node is the caller's node. It may have a certificate for
//   ns/sa only if a pod with that namespace and ServiceAccount is scheduled on that node and not
//   finished (Pending counts: the CNI enrols a pod, and ztunnel fetches its certificate, before
//   its containers run). A stolen node can then mint only the identities of its own pods.
// - waypoint: a ServiceAccount named like a Waypoint in its namespace, with a token bound to a pod
//   of that waypoint (label ambit.dev/waypoint=<name>, owned by a ReplicaSet of its Deployment).
//   It may have only its own identity.
// Anything else is refused. Every refusal reason starts with a stable CamelCase tag.

import type { CaAuthDecision } from '@ambit/core/ca-service/server';
import type { Pod, Waypoint } from '../translate/cluster-state.ts';
import { WAYPOINT_LABEL } from '../translate/names.ts';
import type { SubscriberIdentity } from '../stream/subscriber-scope.ts';
import type { ReviewedToken } from './token-review.ts';

export interface CallerPolicy {
  /** The ztunnel DaemonSet's ServiceAccount. */
  ztunnel: { namespace: string; serviceAccount: string };
}

export const DEFAULT_CALLER_POLICY: CallerPolicy = {
  ztunnel: { namespace: 'ambit-system', serviceAccount: 'ztunnel' },
};

/** What the decisions read: the informer caches, falling back to the API server on a miss. */
export interface CallerLookup {
  pod(namespace: string, name: string): Promise<Pod | undefined>;
  /** Pods scheduled on `node`; `fresh` asks the API server rather than a cache. */
  podsOnNode(node: string, opts?: { fresh?: boolean }): Promise<readonly Pod[]>;
  waypoint(namespace: string, name: string): Promise<Waypoint | undefined>;
}

/** The refusal tags (stable; match on these, the rest of the reason is for people). */
export type RefusalTag =
  | 'TokenInvalid'
  | 'CallerNotAllowed'
  | 'TokenNotBoundToPod'
  | 'CallerPodGone'
  | 'NotOnCallerNode'
  | 'NotOwnIdentity'
  | 'NotWaypointPod';

export type CallerVerdict =
  { ok: true; caller: SubscriberIdentity } | { ok: false; status: 401 | 403; reason: string };

function refuse(
  status: 401 | 403,
  tag: RefusalTag,
  message: string,
): CallerVerdict & { ok: false } {
  return { ok: false, status, reason: `${tag}: ${message}` };
}

function live(pod: Pod | undefined): pod is Pod {
  const phase = pod?.status?.phase;
  return (
    pod !== undefined &&
    pod.metadata?.deletionTimestamp === undefined &&
    (phase === 'Running' || phase === 'Pending')
  );
}

/** The caller's bound pod, checked against the token (same uid when the token names one). */
async function boundPod(
  token: ReviewedToken,
  lookup: CallerLookup,
): Promise<{ pod: Pod } | (CallerVerdict & { ok: false })> {
  const sa = `${token.namespace}/${token.serviceAccount}`;
  if (token.pod === undefined) {
    return refuse(
      403,
      'TokenNotBoundToPod',
      `the token of ${sa} is not bound to a pod; use the pod's projected ServiceAccount token (audience ambit-ca)`,
    );
  }
  const pod = await lookup.pod(token.namespace, token.pod.name);
  if (!live(pod) || (token.pod.uid !== undefined && pod.metadata?.uid !== token.pod.uid)) {
    return refuse(
      403,
      'CallerPodGone',
      `the pod ${token.namespace}/${token.pod.name} the token was issued for is not running`,
    );
  }
  if (
    pod.spec?.serviceAccountName !== undefined &&
    pod.spec.serviceAccountName !== token.serviceAccount
  ) {
    return refuse(
      403,
      'CallerPodGone',
      `the pod ${token.namespace}/${token.pod.name} does not run as ${sa}`,
    );
  }
  return { pod };
}

/** Who the bearer of a reviewed token is, as a data plane. */
export async function identifyCaller(
  token: ReviewedToken,
  policy: CallerPolicy,
  lookup: CallerLookup,
): Promise<CallerVerdict> {
  const sa = `${token.namespace}/${token.serviceAccount}`;
  const z = policy.ztunnel;
  if (token.namespace === z.namespace && token.serviceAccount === z.serviceAccount) {
    const bound = await boundPod(token, lookup);
    if ('ok' in bound) return bound;
    const node = bound.pod.spec?.nodeName ?? token.pod?.node;
    if (node === undefined || node === '') {
      return refuse(
        403,
        'CallerPodGone',
        `the ztunnel pod ${token.pod?.name ?? ''} is not scheduled on a node`,
      );
    }
    if (token.pod?.node !== undefined && token.pod.node !== node) {
      return refuse(
        403,
        'CallerPodGone',
        `the token was issued on node ${token.pod.node}, its pod runs on ${node}`,
      );
    }
    return { ok: true, caller: { kind: 'ztunnel', node } };
  }
  const wp = await lookup.waypoint(token.namespace, token.serviceAccount);
  if (wp === undefined || wp.metadata?.deletionTimestamp !== undefined) {
    return refuse(
      403,
      'CallerNotAllowed',
      `${sa} is neither the ztunnel ServiceAccount (${z.namespace}/${z.serviceAccount}) nor a Waypoint's`,
    );
  }
  const bound = await boundPod(token, lookup);
  if ('ok' in bound) return bound;
  const name = token.serviceAccount;
  const labels = bound.pod.metadata?.labels ?? {};
  const owner = bound.pod.metadata?.ownerReferences?.find((o) => o.controller === true);
  if (
    labels[WAYPOINT_LABEL] !== name ||
    owner?.kind !== 'ReplicaSet' ||
    !owner.name.startsWith(`${name}-`)
  ) {
    return refuse(
      403,
      'NotWaypointPod',
      `the pod ${token.namespace}/${token.pod?.name ?? ''} is not a pod of Waypoint ${token.namespace}/${name}'s Deployment`,
    );
  }
  return { ok: true, caller: { kind: 'waypoint', namespace: token.namespace, name } };
}

/** May `caller` have a certificate for namespace/serviceAccount? */
export async function authorizeIdentity(
  caller: SubscriberIdentity,
  requested: { namespace: string; serviceAccount: string },
  lookup: CallerLookup,
): Promise<CaAuthDecision> {
  const want = `${requested.namespace}/${requested.serviceAccount}`;
  if (caller.kind === 'waypoint') {
    if (requested.namespace === caller.namespace && requested.serviceAccount === caller.name) {
      return { allowed: true };
    }
    return {
      allowed: false,
      status: 403,
      reason: `NotOwnIdentity: waypoint ${caller.namespace}/${caller.name} may only have its own identity, not ${want}`,
    };
  }
  const matches = (pods: readonly Pod[]) =>
    pods.some(
      (p) =>
        live(p) &&
        p.spec?.nodeName === caller.node &&
        p.metadata?.namespace === requested.namespace &&
        (p.spec?.serviceAccountName || 'default') === requested.serviceAccount,
    );
  // A cache may not have a pod created a moment ago: ask again, fresh, before refusing.
  if (matches(await lookup.podsOnNode(caller.node))) return { allowed: true };
  if (matches(await lookup.podsOnNode(caller.node, { fresh: true }))) return { allowed: true };
  return {
    allowed: false,
    status: 403,
    reason: `NotOnCallerNode: no running pod with ServiceAccount ${want} is scheduled on node ${caller.node} (the caller's node)`,
  };
}
