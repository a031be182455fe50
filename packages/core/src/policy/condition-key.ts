// The documented set of `when` keys, parsed once. L4 keys are known to ztunnel at the destination;
// L7 keys need the HTTP request and are enforced only by the waypoint.

export type ConditionKey =
  | { kind: 'source.ip'; layer: 'L4' }
  | { kind: 'source.namespace'; layer: 'L4' }
  | { kind: 'source.principal'; layer: 'L4' }
  | { kind: 'destination.ip'; layer: 'L4' }
  | { kind: 'destination.port'; layer: 'L4' }
  | { kind: 'request.headers'; layer: 'L7'; name: string }
  | { kind: 'request.auth.principal'; layer: 'L7' }
  | { kind: 'request.auth.audiences'; layer: 'L7' }
  | { kind: 'request.auth.presenter'; layer: 'L7' }
  | { kind: 'request.auth.claims'; layer: 'L7'; name: string };

export const CONDITION_KEYS = [
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
  'request.headers[<name>]',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[<name>]',
] as const;

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BRACKETED_RE = /^(request\.headers|request\.auth\.claims)\[([^\]]+)\]$/;

/** Parses a `when` key; undefined when it is not one of CONDITION_KEYS. */
export function parseConditionKey(key: string): ConditionKey | undefined {
  switch (key) {
    case 'source.ip':
    case 'source.namespace':
    case 'source.principal':
    case 'destination.ip':
    case 'destination.port':
      return { kind: key, layer: 'L4' };
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
      return { kind: key, layer: 'L7' };
  }
  const m = BRACKETED_RE.exec(key);
  if (m === null) return undefined;
  const name = m[2] ?? '';
  if (m[1] === 'request.headers') {
    if (!HEADER_NAME_RE.test(name)) return undefined;
    return { kind: 'request.headers', layer: 'L7', name: name.toLowerCase() };
  }
  return { kind: 'request.auth.claims', layer: 'L7', name };
}
