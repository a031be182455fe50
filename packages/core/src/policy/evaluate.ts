// Pure policy evaluation, shared by ztunnel (L4, at the destination) and the waypoint (L7).
// Order: any matching DENY → deny; no ALLOW policy applies → allow; an ALLOW matches → allow;
// otherwise deny. AUDIT policies only log (reported in `audit`). docs/policy.md has the details.

import { ipInBlocks, normalizeIp } from './cidr.ts';
import { parseConditionKey } from './condition-key.ts';
import { ruleUsesL7 } from './l7-fields.ts';
import { matchAny } from './string-match.ts';
import type {
  Authorization,
  AuthorizationAction,
  AuthorizationCondition,
  AuthorizationDecision,
  AuthorizationOperation,
  AuthorizationRule,
  AuthorizationSource,
  AuthorizationTargetRef,
  L4Request,
  L7Request,
  PolicyWorkload,
} from './types.ts';

export { l7Fields } from './l7-fields.ts';

type Layer = 'L4' | 'L7';

/** `ns/name`, how decisions and logs name a policy. */
export function policyId(p: Pick<Authorization, 'namespace' | 'name'>): string {
  return `${p.namespace}/${p.name}`;
}

function appliesTo(p: Authorization, w: PolicyWorkload): boolean {
  const scope = p.scope;
  switch (scope.kind) {
    case 'mesh':
      return true;
    case 'namespace':
      return p.namespace === w.namespace;
    case 'selector':
      return (
        (scope.mesh || p.namespace === w.namespace) &&
        Object.entries(scope.matchLabels).every(([k, v]) => w.labels[k] === v)
      );
    case 'targetRefs':
      return false; // enforced by the waypoint, see selectTargetPolicies
  }
}

/** The policies ztunnel enforces for a destination workload (never the targetRefs ones). */
export function selectPolicies(
  all: readonly Authorization[],
  workload: PolicyWorkload,
): Authorization[] {
  return all.filter((p) => appliesTo(p, workload));
}

/** The targetRefs policies a waypoint enforces for traffic to a Service or through a Waypoint. */
export function selectTargetPolicies(
  all: readonly Authorization[],
  target: AuthorizationTargetRef & { namespace: string },
): Authorization[] {
  return all.filter(
    (p) =>
      p.scope.kind === 'targetRefs' &&
      p.namespace === target.namespace &&
      p.scope.targetRefs.some((r) => r.kind === target.kind && r.name === target.name),
  );
}

/** The request, with the peer identity split once. Absent attributes are undefined. */
interface Ctx {
  layer: Layer;
  principal: string | undefined; // `<td>/ns/<ns>/sa/<sa>`
  namespace: string | undefined;
  serviceAccount: string | undefined; // `<ns>/<sa>`
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
  http: L7Request | undefined;
}

function context(req: L4Request, layer: Layer): Ctx {
  let principal: string | undefined;
  let namespace: string | undefined;
  let serviceAccount: string | undefined;
  if (req.sourceId !== undefined) {
    // A SpiffeId is validated at the boundary: spiffe://<td>/ns/<ns>/sa/<sa>.
    principal = req.sourceId.slice('spiffe://'.length);
    const parts = principal.split('/');
    namespace = parts[2];
    serviceAccount = `${parts[2]}/${parts[4]}`;
  }
  return {
    layer,
    principal,
    namespace,
    serviceAccount,
    sourceIp: normalizeIp(req.sourceIp),
    destinationIp: normalizeIp(req.destinationIp),
    destinationPort: req.destinationPort,
    http: layer === 'L7' ? (req as L7Request) : undefined,
  };
}

/**
 * A field with values and notValues: some value must match, and no notValue may. `matches(list)`
 * is false when the attribute is absent, so `values` then fail and `notValues` pass.
 */
function check<V>(
  values: readonly V[] | undefined,
  notValues: readonly V[] | undefined,
  matches: (list: readonly V[]) => boolean,
): boolean {
  if (values !== undefined && values.length > 0 && !matches(values)) return false;
  return notValues === undefined || notValues.length === 0 || !matches(notValues);
}

function patterns(value: string | undefined, ignoreCase = false) {
  return (list: readonly string[]) => value !== undefined && matchAny(list, value, ignoreCase);
}

function anyOf(values: readonly string[]) {
  return (list: readonly string[]) => values.some((v) => matchAny(list, v));
}

function sourceMatches(s: AuthorizationSource, c: Ctx): boolean {
  return (
    check(s.principals, s.notPrincipals, patterns(c.principal)) &&
    check(s.namespaces, s.notNamespaces, patterns(c.namespace)) &&
    check(
      s.serviceAccounts,
      s.notServiceAccounts,
      (list: readonly string[]) =>
        c.serviceAccount !== undefined && list.includes(c.serviceAccount),
    ) &&
    check(s.ipBlocks, s.notIpBlocks, (list: readonly string[]) => ipInBlocks(list, c.sourceIp))
  );
}

/** `host:port` or `[v6]:port` → host without the port. */
function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon >= 0 && host.indexOf(':', colon + 1) < 0 ? host.slice(0, colon) : host;
}

function operationMatches(o: AuthorizationOperation, c: Ctx): boolean {
  if (!check(o.ports, o.notPorts, (list: readonly number[]) => list.includes(c.destinationPort))) {
    return false;
  }
  const http = c.http;
  if (http === undefined) return true; // L4: only the L4 part (see ruleMatches for ALLOW)
  const host = http.host;
  const bare = stripPort(host);
  return (
    check(o.methods, o.notMethods, patterns(http.method)) &&
    check(o.paths, o.notPaths, patterns(http.path)) &&
    check(
      o.hosts,
      o.notHosts,
      (list: readonly string[]) => matchAny(list, host, true) || matchAny(list, bare, true),
    )
  );
}

function asList(v: string | readonly string[] | undefined): readonly string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : v;
}

/** Whether `when` condition holds; `onUnknown` is the fail-closed answer for an unknown key. */
function conditionMatches(cond: AuthorizationCondition, c: Ctx, onUnknown: boolean): boolean {
  const key = parseConditionKey(cond.key);
  if (key === undefined) return onUnknown;
  const http = c.http;
  let matches: (list: readonly string[]) => boolean;
  switch (key.kind) {
    case 'source.ip':
      matches = (list) => ipInBlocks(list, c.sourceIp);
      break;
    case 'destination.ip':
      matches = (list) => ipInBlocks(list, c.destinationIp);
      break;
    case 'destination.port':
      matches = (list) => list.includes(String(c.destinationPort));
      break;
    case 'source.principal':
      matches = patterns(c.principal);
      break;
    case 'source.namespace':
      matches = patterns(c.namespace);
      break;
    case 'request.headers':
      if (http === undefined) return true; // L4 keeps only the L4 part
      matches = anyOf(asList(http.headers[key.name]));
      break;
    case 'request.auth.principal':
      if (http === undefined) return true;
      matches = patterns(http.auth?.principal);
      break;
    case 'request.auth.presenter':
      if (http === undefined) return true;
      matches = patterns(http.auth?.presenter);
      break;
    case 'request.auth.audiences':
      if (http === undefined) return true;
      matches = anyOf(http.auth?.audiences ?? []);
      break;
    case 'request.auth.claims':
      if (http === undefined) return true;
      matches = anyOf(asList(http.auth?.claims?.[key.name]));
      break;
  }
  return check(cond.values, cond.notValues, matches);
}

function ruleMatches(rule: AuthorizationRule, action: AuthorizationAction, c: Ctx): boolean {
  // Fail closed at L4: an ALLOW rule that needs the HTTP request matches nothing.
  if (c.layer === 'L4' && action === 'ALLOW' && ruleUsesL7(rule)) return false;
  const from = rule.from ?? [];
  if (from.length > 0 && !from.some((s) => sourceMatches(s, c))) return false;
  const to = rule.to ?? [];
  if (to.length > 0 && !to.some((o) => operationMatches(o, c))) return false;
  return (rule.when ?? []).every((w) => conditionMatches(w, c, action !== 'ALLOW'));
}

/** Index of the first matching rule, or -1. */
function matchingRule(p: Authorization, c: Ctx): number {
  return p.rules.findIndex((r) => ruleMatches(r, p.action, c));
}

function names(ps: readonly Authorization[]): string {
  const ids = ps.slice(0, 5).map(policyId).join(', ');
  return ps.length > 5 ? `${ids} and ${ps.length - 5} more` : ids;
}

function evaluate(policies: readonly Authorization[], c: Ctx): AuthorizationDecision {
  const audit = policies
    .filter((p) => p.action === 'AUDIT' && matchingRule(p, c) >= 0)
    .map(policyId);
  const withAudit = (d: AuthorizationDecision): AuthorizationDecision =>
    audit.length > 0 ? { ...d, audit } : d;

  for (const p of policies) {
    if (p.action !== 'DENY') continue;
    const i = matchingRule(p, c);
    if (i >= 0) {
      const id = policyId(p);
      return withAudit({
        allowed: false,
        reason: `denied by DENY policy ${id} (rule ${i})`,
        policy: id,
      });
    }
  }
  const allows = policies.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0) {
    return withAudit({ allowed: true, reason: 'allowed: no ALLOW policy applies' });
  }
  for (const p of allows) {
    const i = matchingRule(p, c);
    if (i >= 0) {
      const id = policyId(p);
      return withAudit({
        allowed: true,
        reason: `allowed by ALLOW policy ${id} (rule ${i})`,
        policy: id,
      });
    }
  }
  let reason = `denied: no rule of ALLOW policy ${names(allows)} matched`;
  if (c.layer === 'L4') {
    const l7 = allows.filter((p) => p.rules.some(ruleUsesL7));
    if (l7.length > 0) {
      reason += ` (rules with L7 fields match nothing at L4, in ${names(l7)}: use a waypoint)`;
    }
  }
  return withAudit({ allowed: false, reason });
}

/**
 * ztunnel's decision for one connection, given the policies that apply to the destination
 * workload (selectPolicies). L7 fields fail closed: an ALLOW rule using them matches nothing; a
 * DENY or AUDIT rule keeps only its L4 part.
 */
export function evaluateL4(
  policies: readonly Authorization[],
  req: L4Request,
): AuthorizationDecision {
  return evaluate(policies, context(req, 'L4'));
}

/** The waypoint's decision for one HTTP request: every field applies. */
export function evaluateL7(
  policies: readonly Authorization[],
  req: L7Request,
): AuthorizationDecision {
  return evaluate(policies, context(req, 'L7'));
}
