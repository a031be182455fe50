// AuthorizationPolicy → Authorization, with the policy's status. Validation is core's
// (authorizationFromSpec); the API server's schema refuses most invalid specs before they get
// here. An invalid policy fails closed rather than being left out (leaving out a DENY, or the only
// ALLOW of a workload, would widen access): see failClosed below. A policy that ztunnel
// enforces (no targetRefs) but that uses L7 fields is sent anyway, with condition
// ZtunnelAccepted=False naming the fields: ztunnel fails closed on them (DESIGN.md "Policy
// semantics").

import { MeshError } from '@ambit/core/errors';
import { authorizationFromSpec } from '@ambit/core/policy/from-spec';
import { l7Fields } from '@ambit/core/policy/l7-fields';
import {
  SYSTEM_NAMESPACE,
  type Authorization,
  type AuthorizationScope,
} from '@ambit/core/policy/types';
import type { AuthorizationPolicy } from './cluster-state.ts';
import type { StatusCondition, StatusReport, Warn } from './translation.ts';

export interface AuthorizationTranslation {
  authorizations: Authorization[];
  statuses: StatusReport[];
}

function ztunnelCondition(a: Authorization, generation: number | undefined): StatusCondition {
  const fields = l7Fields(a);
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  if (fields.length === 0) {
    return {
      type: 'ZtunnelAccepted',
      status: 'True',
      reason: 'Accepted',
      message: 'ztunnel enforces every rule',
      ...gen,
    };
  }
  const effect =
    a.action === 'ALLOW'
      ? 'an ALLOW rule using them matches nothing at ztunnel, which is more restrictive than written'
      : `a ${a.action} rule keeps only its L4 part at ztunnel`;
  return {
    type: 'ZtunnelAccepted',
    status: 'False',
    reason: 'UnsupportedValue',
    message:
      `ztunnel enforces only L4 and fails closed on these HTTP fields: ${fields.join(', ')}; ${effect}. ` +
      'Enforce them in a waypoint: bind the policy with targetRefs to the Service or Waypoint.',
    ...gen,
  };
}

/**
 * What an invalid policy is enforced as, under its own name (so fixing it is a change, not a
 * removal and an addition):
 * - DENY, or an action the validator refused (CUSTOM, a typo): one rule matching everything,
 *   denying every request to the workloads it selects, as Istio does with a DENY policy it cannot
 *   translate;
 * - ALLOW: no rules, allowing nothing. It still counts as an ALLOW for those workloads, so other
 *   ALLOW policies keep allowing what they match, but the invalid one grants nothing (left out it
 *   would allow everything when it was their only ALLOW);
 * - AUDIT: left out (it only logs; leaving it out changes no access).
 * The workloads it selects: its scope when that alone is valid; when the scope itself is invalid
 * (selector and targetRefs together, a targetRef in another namespace) every workload it could
 * have selected, i.e. its namespace (the mesh for a policy in ambit-system).
 */
function failClosed(
  p: AuthorizationPolicy,
  name: string,
  namespace: string,
):
  { authorization: Authorization; reason: 'DenyAll' | 'AllowNothing'; effect: string } | undefined {
  const spec = p.spec ?? {};
  const action = spec.action ?? 'ALLOW';
  if (action === 'AUDIT') return undefined;
  let scope: AuthorizationScope;
  let selects: string;
  try {
    const { selector, targetRef, targetRefs } = spec;
    scope = authorizationFromSpec({
      apiVersion: p.apiVersion,
      kind: p.kind,
      metadata: { name, namespace },
      spec: { selector, targetRef, targetRefs },
    }).scope;
    selects = 'the workloads it selects';
  } catch (err) {
    if (!(err instanceof MeshError)) throw err;
    scope = namespace === SYSTEM_NAMESPACE ? { kind: 'mesh' } : { kind: 'namespace' };
    selects =
      scope.kind === 'mesh'
        ? 'every workload of the mesh (its selection is invalid too)'
        : `every workload of namespace ${namespace} (its selection is invalid too)`;
  }
  if (action === 'ALLOW') {
    return {
      authorization: { name, namespace, scope, action: 'ALLOW', rules: [] },
      reason: 'AllowNothing',
      effect: `failed closed: enforced as an ALLOW policy with no rules for ${selects} (it allows nothing; only other ALLOW policies can allow requests to them)`,
    };
  }
  return {
    authorization: { name, namespace, scope, action: 'DENY', rules: [{}] },
    reason: 'DenyAll',
    effect: `failed closed: enforced as a DENY of every request to ${selects}`,
  };
}

export function translateAuthorizations(
  policies: readonly AuthorizationPolicy[],
  warn: Warn,
): AuthorizationTranslation {
  const authorizations: Authorization[] = [];
  const statuses: StatusReport[] = [];
  for (const p of policies) {
    const name = p.metadata?.name ?? '';
    const namespace = p.metadata?.namespace ?? '';
    const generation = p.metadata?.generation;
    const gen = generation === undefined ? {} : { observedGeneration: generation };
    let a: Authorization;
    try {
      // Only the fields the validator knows: the live object carries metadata it need not see.
      a = authorizationFromSpec({
        apiVersion: p.apiVersion,
        kind: p.kind,
        metadata: { name, namespace },
        spec: p.spec,
      });
    } catch (err) {
      if (!(err instanceof MeshError)) throw err;
      const closed = failClosed(p, name, namespace);
      warn(
        `AuthorizationPolicy ${namespace}/${name}`,
        `invalid, ${closed === undefined ? 'not applied' : closed.effect}: ${err.message}`,
      );
      const conditions: StatusCondition[] = [
        {
          type: 'Accepted',
          status: 'False',
          reason: 'Invalid',
          message: `not applied as written: ${err.message}`,
          ...gen,
        },
      ];
      if (closed !== undefined) {
        authorizations.push(closed.authorization);
        conditions.push({
          type: 'FailedClosed',
          status: 'True',
          reason: closed.reason,
          message: `${closed.effect} until the policy is fixed`,
          ...gen,
        });
      }
      statuses.push({ kind: 'AuthorizationPolicy', namespace, name, conditions });
      continue;
    }
    authorizations.push(a);
    const conditions: StatusCondition[] = [
      {
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: 'sent to the data planes',
        ...gen,
      },
    ];
    if (a.scope.kind !== 'targetRefs') conditions.push(ztunnelCondition(a, generation));
    statuses.push({ kind: 'AuthorizationPolicy', namespace, name, conditions });
  }
  const k = (a: Authorization) => `${a.namespace}/${a.name}`;
  authorizations.sort((x, y) => (k(x) < k(y) ? -1 : k(x) > k(y) ? 1 : 0));
  return { authorizations, statuses };
}
