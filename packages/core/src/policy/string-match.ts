// Istio's string match for policy values: `*` (any value that is present), `prefix*`, `*suffix`,
// or an exact value. A `*` anywhere else is not a wildcard and is refused by validation.

/** True when `pattern` uses `*` only as the whole value, its first or its last character. */
export function isValidPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  const inner = pattern.slice(1, -1);
  if (inner.includes('*')) return false;
  return !(pattern.startsWith('*') && pattern.endsWith('*'));
}

/** Matches `value` against one pattern; `ignoreCase` for hosts. */
export function matchPattern(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  if (p === '*') return true;
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1));
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  return v === p;
}

/** True when any pattern matches `value`. */
export function matchAny(patterns: readonly string[], value: string, ignoreCase = false): boolean {
  return patterns.some((p) => matchPattern(p, value, ignoreCase));
}
