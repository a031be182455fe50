// AuthorizationPolicy (apiVersion ambit.dev/v1alpha1, Istio's spec) → validated Authorization.
// Every error is a PolicyInvalidError (AMBIT_POLICY_INVALID) naming the field path. Unknown
// fields are refused rather than ignored: an ignored typo in a security policy silently widens
// or narrows access.

import { parse as parseYaml } from 'yaml';
import { PolicyInvalidError } from '../errors.ts';
import { formatCidr, parseCidr } from './cidr.ts';
import { CONDITION_KEYS, parseConditionKey } from './condition-key.ts';
import { isValidPattern } from './string-match.ts';
import type {
  Authorization,
  AuthorizationAction,
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationRule,
  AuthorizationScope,
  AuthorizationSource,
  AuthorizationTargetRef,
} from './types.ts';
import { SYSTEM_NAMESPACE } from './types.ts';

export const API_VERSION = 'ambit.dev/v1alpha1';
export const KIND = 'AuthorizationPolicy';

const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_NAME_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const SERVICE_ACCOUNT_REF_RE =
  /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

type Obj = Record<string, unknown>;

function fail(field: string, message: string): never {
  throw new PolicyInvalidError(field, message);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, at: string): Obj {
  if (!isObj(v)) fail(at, `must be an object, got ${show(v)}`);
  return v;
}

function onlyKeys(o: Obj, at: string, allowed: readonly string[], hint: Obj = {}): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue;
    const why = typeof hint[k] === 'string' ? hint[k] : `allowed: ${allowed.join(', ')}`;
    fail(`${at}.${k}`, `unknown field (${why})`);
  }
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string' || v === '') fail(at, `must be a non-empty string, got ${show(v)}`);
  return v;
}

function list(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) fail(at, `must be a list, got ${show(v)}`);
  return v;
}

/** A non-empty list of strings, each checked; undefined when the field is absent. */
function strings(
  o: Obj,
  key: string,
  at: string,
  each: (s: string, at: string) => string = (s) => s,
): string[] | undefined {
  if (o[key] === undefined) return undefined;
  const items = list(o[key], `${at}.${key}`);
  if (items.length === 0) fail(`${at}.${key}`, 'must not be empty (omit the field instead)');
  return items.map((v, i) => each(str(v, `${at}.${key}[${i}]`), `${at}.${key}[${i}]`));
}

function pattern(s: string, at: string): string {
  if (!isValidPattern(s)) {
    fail(at, `${show(s)}: "*" is allowed only as the whole value, its first or its last character`);
  }
  return s;
}

function cidr(s: string, at: string): string {
  const c = parseCidr(s);
  if (c === undefined) fail(at, `${show(s)} is not a CIDR (e.g. 10.0.0.0/8, 2001:db8::/32) or IP`);
  return formatCidr(c);
}

function port(v: unknown, at: string): number {
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    fail(at, `${show(v)} is not a port (1-65535)`);
  }
  return n;
}

function ports(o: Obj, key: string, at: string): number[] | undefined {
  if (o[key] === undefined) return undefined;
  const items = list(o[key], `${at}.${key}`);
  if (items.length === 0) fail(`${at}.${key}`, 'must not be empty (omit the field instead)');
  return items.map((v, i) => port(v, `${at}.${key}[${i}]`));
}

function principal(s: string, at: string): string {
  if (s.startsWith('spiffe://')) {
    fail(at, `${show(s)}: write principals without "spiffe://" (${show(s.slice(9))})`);
  }
  return pattern(s, at);
}

function serviceAccountRef(s: string, at: string): string {
  if (!SERVICE_ACCOUNT_REF_RE.test(s)) {
    fail(at, `${show(s)} is not "<namespace>/<service-account>" (no wildcards)`);
  }
  return s;
}

function path(s: string, at: string): string {
  if (s.includes('{')) fail(at, `${show(s)}: path templates ({*}, {**}) are not supported`);
  if (!s.startsWith('/') && !s.startsWith('*')) fail(at, `${show(s)} must start with "/" or "*"`);
  return pattern(s, at);
}

/** Copies the set fields only, so the result holds no `undefined` keys (clean JSON). */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function source(v: unknown, at: string): AuthorizationSource {
  const s = obj(v, at);
  onlyKeys(
    s,
    at,
    [
      'principals',
      'notPrincipals',
      'namespaces',
      'notNamespaces',
      'serviceAccounts',
      'notServiceAccounts',
      'ipBlocks',
      'notIpBlocks',
    ],
    {
      requestPrincipals: 'request principals (JWT) are not supported yet',
      notRequestPrincipals: 'request principals (JWT) are not supported yet',
      remoteIpBlocks: 'remoteIpBlocks are not supported yet; use ipBlocks',
      notRemoteIpBlocks: 'notRemoteIpBlocks are not supported yet; use notIpBlocks',
    },
  );
  const out = compact<AuthorizationSource>({
    principals: strings(s, 'principals', at, principal),
    notPrincipals: strings(s, 'notPrincipals', at, principal),
    namespaces: strings(s, 'namespaces', at, pattern),
    notNamespaces: strings(s, 'notNamespaces', at, pattern),
    serviceAccounts: strings(s, 'serviceAccounts', at, serviceAccountRef),
    notServiceAccounts: strings(s, 'notServiceAccounts', at, serviceAccountRef),
    ipBlocks: strings(s, 'ipBlocks', at, cidr),
    notIpBlocks: strings(s, 'notIpBlocks', at, cidr),
  });
  if (Object.keys(out).length === 0) fail(at, 'must set at least one field');
  return out;
}

function operation(v: unknown, at: string): AuthorizationOperation {
  const o = obj(v, at);
  onlyKeys(o, at, [
    'ports',
    'notPorts',
    'methods',
    'notMethods',
    'paths',
    'notPaths',
    'hosts',
    'notHosts',
  ]);
  const out = compact<AuthorizationOperation>({
    ports: ports(o, 'ports', at),
    notPorts: ports(o, 'notPorts', at),
    methods: strings(o, 'methods', at, pattern),
    notMethods: strings(o, 'notMethods', at, pattern),
    paths: strings(o, 'paths', at, path),
    notPaths: strings(o, 'notPaths', at, path),
    hosts: strings(o, 'hosts', at, pattern),
    notHosts: strings(o, 'notHosts', at, pattern),
  });
  if (Object.keys(out).length === 0) fail(at, 'must set at least one field');
  return out;
}

function condition(v: unknown, at: string): AuthorizationCondition {
  const c = obj(v, at);
  onlyKeys(c, at, ['key', 'values', 'notValues']);
  const key = str(c.key, `${at}.key`);
  const parsed = parseConditionKey(key);
  if (parsed === undefined) {
    fail(`${at}.key`, `${show(key)} is not supported; supported: ${CONDITION_KEYS.join(', ')}`);
  }
  let each: (s: string, at: string) => string = pattern;
  if (parsed.kind === 'source.ip' || parsed.kind === 'destination.ip') each = cidr;
  if (parsed.kind === 'destination.port') each = (s, a) => String(port(s, a));
  const out = compact<AuthorizationCondition>({
    key: parsed.kind === 'request.headers' ? `request.headers[${parsed.name}]` : key,
    values: strings(c, 'values', at, each),
    notValues: strings(c, 'notValues', at, each),
  });
  if (out.values === undefined && out.notValues === undefined) {
    fail(at, 'must set values or notValues');
  }
  return out;
}

function entries<T>(
  r: Obj,
  key: string,
  at: string,
  inner: string | undefined,
  each: (v: unknown, at: string) => T,
): T[] | undefined {
  if (r[key] === undefined) return undefined;
  const items = list(r[key], `${at}.${key}`);
  if (items.length === 0) fail(`${at}.${key}`, 'must not be empty (omit the field instead)');
  return items.map((item, i) => {
    const here = `${at}.${key}[${i}]`;
    if (inner === undefined) return each(item, here);
    const wrapper = obj(item, here);
    onlyKeys(wrapper, here, [inner]);
    if (wrapper[inner] === undefined) fail(`${here}.${inner}`, 'is required');
    return each(wrapper[inner], `${here}.${inner}`);
  });
}

function rule(v: unknown, at: string): AuthorizationRule {
  const r = obj(v, at);
  onlyKeys(r, at, ['from', 'to', 'when']);
  return compact<AuthorizationRule>({
    from: entries(r, 'from', at, 'source', source),
    to: entries(r, 'to', at, 'operation', operation),
    when: entries(r, 'when', at, undefined, condition),
  });
}

function matchLabels(v: unknown, at: string): Record<string, string> {
  const o = obj(v, at);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    const slash = k.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : k.slice(0, slash);
    const name = slash < 0 ? k : k.slice(slash + 1);
    if ((prefix !== undefined && !DNS_SUBDOMAIN_RE.test(prefix)) || !LABEL_NAME_RE.test(name)) {
      fail(`${at}.${k}`, `${show(k)} is not a label key`);
    }
    if (typeof val !== 'string' || !LABEL_VALUE_RE.test(val)) {
      fail(`${at}.${k}`, `${show(val)} is not a label value`);
    }
    out[k] = val;
  }
  return out;
}

function targetRef(v: unknown, at: string, namespace: string): AuthorizationTargetRef {
  const t = obj(v, at);
  onlyKeys(t, at, ['group', 'kind', 'name', 'namespace']);
  const kind = str(t.kind, `${at}.kind`);
  if (t.group !== undefined && typeof t.group !== 'string') {
    fail(`${at}.group`, `must be a string, got ${show(t.group)}`);
  }
  const group = t.group;
  if (kind === 'Service') {
    if (group !== undefined && group !== '' && group !== 'core') {
      fail(`${at}.group`, `${show(group)}: a Service is in the core group ("")`);
    }
  } else if (kind === 'Waypoint') {
    if (group !== undefined && group !== 'ambit.dev') {
      fail(`${at}.group`, `${show(group)}: a Waypoint is in group "ambit.dev"`);
    }
  } else {
    fail(`${at}.kind`, `${show(kind)} is not supported; use Service or Waypoint`);
  }
  const name = str(t.name, `${at}.name`);
  if (!DNS_SUBDOMAIN_RE.test(name)) fail(`${at}.name`, `${show(name)} is not a resource name`);
  if (t.namespace !== undefined && t.namespace !== namespace) {
    fail(`${at}.namespace`, `must be the policy's own namespace ${show(namespace)}`);
  }
  return { kind, name };
}

function scope(spec: Obj, namespace: string): AuthorizationScope {
  const hasSelector = spec.selector !== undefined;
  if (spec.targetRef !== undefined && spec.targetRefs !== undefined) {
    fail('spec.targetRef', 'set targetRef or targetRefs, not both');
  }
  const refs =
    spec.targetRef !== undefined
      ? [targetRef(spec.targetRef, 'spec.targetRef', namespace)]
      : spec.targetRefs !== undefined
        ? list(spec.targetRefs, 'spec.targetRefs').map((t, i) =>
            targetRef(t, `spec.targetRefs[${i}]`, namespace),
          )
        : undefined;
  if (refs !== undefined) {
    if (hasSelector) fail('spec.selector', 'set selector or targetRefs, not both');
    if (refs.length === 0) fail('spec.targetRefs', 'must not be empty (omit the field instead)');
    return { kind: 'targetRefs', targetRefs: refs };
  }
  const mesh = namespace === SYSTEM_NAMESPACE;
  if (hasSelector) {
    const sel = obj(spec.selector, 'spec.selector');
    onlyKeys(sel, 'spec.selector', ['matchLabels'], {
      matchExpressions: 'only matchLabels is supported',
    });
    const labels = matchLabels(sel.matchLabels ?? {}, 'spec.selector.matchLabels');
    // An empty selector selects every workload, as no selector does.
    if (Object.keys(labels).length > 0) return { kind: 'selector', matchLabels: labels, mesh };
  }
  return mesh ? { kind: 'mesh' } : { kind: 'namespace' };
}

function action(v: unknown): AuthorizationAction {
  if (v === undefined) return 'ALLOW';
  if (v === 'ALLOW' || v === 'DENY' || v === 'AUDIT') return v;
  if (v === 'CUSTOM') fail('spec.action', 'CUSTOM (external authorization) is not supported');
  return fail('spec.action', `${show(v)} is not one of ALLOW, DENY, AUDIT`);
}

export interface FromSpecOptions {
  /** Namespace when metadata.namespace is absent (a local file); default "default". */
  defaultNamespace?: string;
}

/**
 * Validates an AuthorizationPolicy (a parsed object, or YAML/JSON text of one document) and
 * returns its Authorization. Throws PolicyInvalidError (AMBIT_POLICY_INVALID) naming the field.
 */
export function authorizationFromSpec(input: unknown, opts: FromSpecOptions = {}): Authorization {
  let doc = input;
  if (typeof input === 'string') {
    try {
      doc = parseYaml(input) as unknown;
    } catch (err) {
      throw new PolicyInvalidError('(document)', `not YAML or JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const o = obj(doc, '(document)');
  onlyKeys(o, '(document)', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (o.apiVersion !== API_VERSION)
    fail('apiVersion', `must be ${show(API_VERSION)}, got ${show(o.apiVersion)}`);
  if (o.kind !== KIND) fail('kind', `must be ${show(KIND)}, got ${show(o.kind)}`);
  const meta = obj(o.metadata, 'metadata');
  const name = str(meta.name, 'metadata.name');
  if (!DNS_SUBDOMAIN_RE.test(name)) fail('metadata.name', `${show(name)} is not a resource name`);
  const namespace =
    meta.namespace === undefined
      ? (opts.defaultNamespace ?? 'default')
      : str(meta.namespace, 'metadata.namespace');
  if (!DNS_LABEL_RE.test(namespace)) {
    fail('metadata.namespace', `${show(namespace)} is not a namespace name`);
  }
  const spec = o.spec === undefined || o.spec === null ? {} : obj(o.spec, 'spec');
  onlyKeys(spec, 'spec', ['selector', 'targetRef', 'targetRefs', 'action', 'rules'], {
    provider: 'CUSTOM providers are not supported',
  });
  return {
    name,
    namespace,
    scope: scope(spec, namespace),
    action: action(spec.action),
    rules:
      spec.rules === undefined
        ? []
        : list(spec.rules, 'spec.rules').map((r, i) => rule(r, `spec.rules[${i}]`)),
  };
}
