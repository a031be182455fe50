// When the policy set changes, ztunnel re-checks its live connections and closes the ones the new
// policies deny (Istio ztunnel does the same). Pure: it only says which.

import { evaluateL4, selectPolicies } from './evaluate.ts';
import type { Authorization, AuthorizationDecision, L4Request, PolicyWorkload } from './types.ts';

export interface LiveConnection<T> {
  /** The caller's handle (socket, stream id…), returned as is. */
  conn: T;
  /** The destination workload the connection was accepted for. */
  workload: PolicyWorkload;
  request: L4Request;
}

/** The live connections that `policies` (the whole new set) now deny, with the decision. */
export function recheckConnections<T>(
  live: Iterable<LiveConnection<T>>,
  policies: readonly Authorization[],
): Array<{ conn: T; decision: AuthorizationDecision }> {
  const selected = new Map<PolicyWorkload, Authorization[]>();
  const denied: Array<{ conn: T; decision: AuthorizationDecision }> = [];
  for (const c of live) {
    let applicable = selected.get(c.workload);
    if (applicable === undefined) {
      applicable = selectPolicies(policies, c.workload);
      selected.set(c.workload, applicable);
    }
    const decision = evaluateL4(applicable, c.request);
    if (!decision.allowed) denied.push({ conn: c.conn, decision });
  }
  return denied;
}
