// Which fields of a policy need the HTTP request. ztunnel cannot see them: at L4 an ALLOW rule
// that uses one matches nothing and a DENY/AUDIT rule keeps only its L4 part. The controller lists
// these paths on the policy's status.

import { parseConditionKey } from './condition-key.ts';
import type { AuthorizationOperation, AuthorizationRule, Authorization } from './types.ts';

const L7_OPERATION_FIELDS = [
  'methods',
  'notMethods',
  'paths',
  'notPaths',
  'hosts',
  'notHosts',
] as const satisfies readonly (keyof AuthorizationOperation)[];

function ruleL7Fields(rule: AuthorizationRule, at: string): string[] {
  const out: string[] = [];
  (rule.to ?? []).forEach((op, j) => {
    for (const f of L7_OPERATION_FIELDS) {
      if ((op[f]?.length ?? 0) > 0) out.push(`${at}.to[${j}].operation.${f}`);
    }
  });
  (rule.when ?? []).forEach((c, j) => {
    // An unknown key is treated as L7: fail closed.
    if (parseConditionKey(c.key)?.layer !== 'L4') out.push(`${at}.when[${j}] (${c.key})`);
  });
  return out;
}

/** True when the rule uses any L7 field (and so matches nothing in an ALLOW policy at L4). */
export function ruleUsesL7(rule: AuthorizationRule): boolean {
  let uses = usesL7.get(rule);
  if (uses === undefined) {
    uses = ruleL7Fields(rule, '').length > 0;
    usesL7.set(rule, uses);
  }
  return uses;
}

/** Rules are immutable data, so the answer is cached per rule object (ztunnel asks per connection). */
const usesL7 = new WeakMap<AuthorizationRule, boolean>();

/**
 * The spec paths of every L7 field in a policy, e.g.
 * `spec.rules[0].to[1].operation.methods`, `spec.rules[2].when[0] (request.headers[x-user])`.
 * Empty when the policy is fully enforceable by ztunnel.
 */
export function l7Fields(policy: Authorization): string[] {
  return policy.rules.flatMap((rule, i) => ruleL7Fields(rule, `spec.rules[${i}]`));
}
