// metav1.Condition bookkeeping, as apimachinery's meta.SetStatusCondition does it: a condition's
// lastTransitionTime changes only when its `status` changes; reason, message and
// observedGeneration are updated in place. Conditions of types not desired are dropped.

import type { StatusCondition } from '../translate/translation.ts';

export interface Condition extends StatusCondition {
  lastTransitionTime: string;
}

function isCondition(c: unknown): c is Condition {
  return typeof c === 'object' && c !== null && typeof (c as Condition).type === 'string';
}

/** The conditions to write: `desired`, with lastTransitionTime carried over from `existing` when the status is the same. */
export function mergeConditions(
  existing: unknown,
  desired: readonly StatusCondition[],
  now: Date,
): Condition[] {
  const before = new Map<string, Condition>();
  if (Array.isArray(existing)) for (const c of existing) if (isCondition(c)) before.set(c.type, c);
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return desired.map((d) => {
    const old = before.get(d.type);
    const lastTransitionTime =
      old !== undefined && old.status === d.status && typeof old.lastTransitionTime === 'string'
        ? old.lastTransitionTime
        : stamp;
    return {
      type: d.type,
      status: d.status,
      ...(d.observedGeneration !== undefined && { observedGeneration: d.observedGeneration }),
      lastTransitionTime,
      reason: d.reason,
      message: d.message,
    };
  });
}
