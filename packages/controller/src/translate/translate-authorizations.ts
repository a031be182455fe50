// AuthorizationPolicy → Authorization, with the policy's status. Validation is core's
// (authorizationFromSpec); an invalid policy is left out and its status says why (the API
// server's schema refuses most invalid specs before they get here). A policy that ztunnel
// enforces (no targetRefs) but that uses L7 fields is sent anyway, with condition
// ZtunnelAccepted=False naming the fields: ztunnel fails closed on them (DESIGN.md "Policy
// semantics").

import { MeshError } from '@ambit/core/errors';
import { authorizationFromSpec } from '@ambit/core/policy/from-spec';
import { l7Fields } from '@ambit/core/policy/l7-fields';
import type { Authorization } from '@ambit/core/policy/types';
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
      warn(`AuthorizationPolicy ${namespace}/${name}`, `invalid, not applied: ${err.message}`);
      statuses.push({
        kind: 'AuthorizationPolicy',
        namespace,
        name,
        conditions: [
          {
            type: 'Accepted',
            status: 'False',
            reason: 'Invalid',
            message: `not applied: ${err.message}`,
            ...gen,
          },
        ],
      });
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
