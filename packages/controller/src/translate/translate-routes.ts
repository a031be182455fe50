// Gateway API HTTPRoutes bound to Services (GAMMA: parentRefs of kind Service) → Routes, with
// their status. HTTPRoutes without a Service parent belong to some gateway controller and are
// ignored. What cannot be honoured is reported, never thrown:
//  - a parentRef to a Service that does not exist (or a port it lacks): not bound there;
//    Accepted=False, reason NoMatchingParent, when no parent is left;
//  - a rule with an invalid match, filter, timeout or retry: the rule is dropped;
//    PartiallyInvalid=True (Accepted=False, UnsupportedValue, when no rule is left);
//  - a backendRef that is not a Service port in the route's namespace: kept with its weight as
//    an `invalid` backend (its share of requests gets HTTP 500); ResolvedRefs=False;
//  - a RequestMirror whose backend does not resolve: the mirror is dropped; ResolvedRefs=False.
// Cross-namespace parents (GAMMA consumer routes) and backends (ReferenceGrant) are not
// supported yet and are reported as such.

import type {
  Route,
  RouteBackend,
  RouteFilter,
  RouteMatch,
  RouteParent,
  RouteRetry,
  RouteRule,
  RouteValueMatch,
} from '@ambit/core/mesh/route-types';
import { serviceKey } from '@ambit/core/mesh/types';
import type { ClusterIndex } from './cluster-index.ts';
import {
  kubeTimeString,
  type GatewayRef,
  type HttpRoute,
  type HttpRouteMatchSpec,
  type HttpRouteRuleSpec,
} from './cluster-state.ts';
import { parseGatewayDuration } from './gateway-duration.ts';
import { translateFilter, type Checked, type ResolveBackend } from './route-filters.ts';
import type { StatusCondition, StatusReport } from './translation.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

export interface RouteContext {
  index: ClusterIndex;
  clusterDomain: string;
}

export interface RouteTranslation {
  routes: Route[];
  statuses: StatusReport[];
}

const isServiceRef = (r: GatewayRef): boolean =>
  r.kind === 'Service' && (r.group === undefined || r.group === '' || r.group === 'core');

function validRegex(source: string): boolean {
  try {
    new RegExp(source, 'u');
    return true;
  } catch {
    return false;
  }
}

function valueMatches(
  list: HttpRouteMatchSpec['headers'],
  at: string,
  lowerNames: boolean,
): Checked<RouteValueMatch[] | undefined> {
  if (list === undefined || list.length === 0) return { ok: undefined };
  const out: RouteValueMatch[] = [];
  for (const [i, h] of list.entries()) {
    const type = h.type ?? 'Exact';
    if (type !== 'Exact' && type !== 'RegularExpression') {
      return {
        problem: `${at}[${i}].type ${JSON.stringify(type)} is not Exact or RegularExpression`,
      };
    }
    if (h.name === undefined || h.name === '') return { problem: `${at}[${i}].name is required` };
    const value = h.value ?? '';
    if (type === 'RegularExpression' && !validRegex(value)) {
      return {
        problem: `${at}[${i}].value ${JSON.stringify(value)} is not a valid regular expression`,
      };
    }
    out.push({ type, name: lowerNames ? h.name.toLowerCase() : h.name, value });
  }
  return { ok: out };
}

function translateMatch(m: HttpRouteMatchSpec, at: string): Checked<RouteMatch> {
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  if (type !== 'Exact' && type !== 'PathPrefix' && type !== 'RegularExpression') {
    return {
      problem: `${at}.path.type ${JSON.stringify(type)} is not Exact, PathPrefix or RegularExpression`,
    };
  }
  if (type === 'RegularExpression') {
    if (!validRegex(value)) {
      return {
        problem: `${at}.path.value ${JSON.stringify(value)} is not a valid regular expression`,
      };
    }
  } else if (!value.startsWith('/')) {
    return { problem: `${at}.path.value ${JSON.stringify(value)} must start with "/"` };
  }
  const out: RouteMatch = { path: { type, value } };
  const headers = valueMatches(m.headers, `${at}.headers`, true);
  if ('problem' in headers) return headers;
  if (headers.ok !== undefined) out.headers = headers.ok;
  const query = valueMatches(m.queryParams, `${at}.queryParams`, false);
  if ('problem' in query) return query;
  if (query.ok !== undefined) out.queryParams = query.ok;
  if (m.method !== undefined) {
    if (!METHODS.includes(m.method)) {
      return {
        problem: `${at}.method ${JSON.stringify(m.method)} is not one of ${METHODS.join(', ')}`,
      };
    }
    out.method = m.method;
  }
  return { ok: out };
}

function translateRetry(
  r: NonNullable<HttpRouteRuleSpec['retry']>,
  at: string,
): Checked<RouteRetry> {
  const attempts = r.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 0) {
    return {
      problem: `${at}.attempts ${JSON.stringify(r.attempts)} is not a non-negative integer`,
    };
  }
  const codes = r.codes ?? [];
  for (const [i, c] of codes.entries()) {
    if (!Number.isInteger(c) || c < 400 || c > 599) {
      return { problem: `${at}.codes[${i}] ${JSON.stringify(c)} is not an HTTP status 400-599` };
    }
  }
  let backoffMs = 0;
  if (r.backoff !== undefined) {
    const ms = parseGatewayDuration(r.backoff);
    if (ms === undefined)
      return {
        problem: `${at}.backoff ${JSON.stringify(r.backoff)} is not a duration like "100ms" or "1s"`,
      };
    backoffMs = ms;
  }
  return { ok: { attempts, codes: [...codes], backoffMs } };
}

interface Unresolved {
  message: string;
  reason: string;
}

interface RuleOutcome {
  rule?: RouteRule;
  /** Why the rule was dropped. */
  dropped?: string;
  /** Unresolved references (the rule is kept). */
  unresolved: Unresolved[];
}

function translateRule(spec: HttpRouteRuleSpec, at: string, resolve: ResolveBackend): RuleOutcome {
  const unresolved: Unresolved[] = [];
  const drop = (why: string): RuleOutcome => ({ dropped: why, unresolved });
  const matchSpecs = spec.matches && spec.matches.length > 0 ? spec.matches : [{}];
  const matches: RouteMatch[] = [];
  for (const [i, m] of matchSpecs.entries()) {
    const r = translateMatch(m, `${at}.matches[${i}]`);
    if ('problem' in r) return drop(r.problem);
    matches.push(r.ok);
  }
  const prefixOnly = matches.every((m) => m.path.type === 'PathPrefix');
  const filtersOf = (list: HttpRouteRuleSpec['filters'], where: string): Checked<RouteFilter[]> => {
    const out: RouteFilter[] = [];
    for (const [i, f] of (list ?? []).entries()) {
      const r = translateFilter(f, `${where}[${i}]`, resolve, prefixOnly);
      if ('ok' in r) out.push(r.ok);
      else if (f.type === 'RequestMirror') {
        unresolved.push({
          message: `${r.problem}; the mirror is dropped`,
          reason: r.reason ?? 'BackendNotFound',
        });
      } else return r;
    }
    return { ok: out };
  };
  const filters = filtersOf(spec.filters, `${at}.filters`);
  if ('problem' in filters) return drop(filters.problem);
  const redirect = filters.ok.some((f) => f.type === 'RequestRedirect');
  if (redirect && filters.ok.some((f) => f.type === 'URLRewrite')) {
    return drop(`${at}.filters: RequestRedirect and URLRewrite cannot be used together`);
  }

  const backends: RouteBackend[] = [];
  if (!redirect) {
    for (const [i, b] of (spec.backendRefs ?? []).entries()) {
      const where = `${at}.backendRefs[${i}]`;
      const weight = b.weight ?? 1;
      if (!Number.isInteger(weight) || weight < 0)
        return drop(`${where}.weight ${weight} is not a non-negative integer`);
      const r = resolve(b, where);
      if ('problem' in r) {
        unresolved.push({ message: r.problem, reason: r.reason ?? 'BackendNotFound' });
        backends.push({ kind: 'invalid', reason: r.problem, weight });
        continue;
      }
      const bf = filtersOf(b.filters, `${where}.filters`);
      if ('problem' in bf) return drop(bf.problem);
      const backend: RouteBackend = { kind: 'service', ...r.ok, weight };
      if (bf.ok.length > 0) backend.filters = bf.ok;
      backends.push(backend);
    }
  }

  const rule: RouteRule = { matches, filters: filters.ok, backends };
  if (spec.name !== undefined) rule.name = spec.name;
  if (spec.timeouts !== undefined) {
    const t: { requestMs?: number; backendRequestMs?: number } = {};
    for (const k of ['request', 'backendRequest'] as const) {
      const v = spec.timeouts[k];
      if (v === undefined) continue;
      const ms = parseGatewayDuration(v);
      if (ms === undefined)
        return drop(
          `${at}.timeouts.${k} ${JSON.stringify(v)} is not a duration like "10s" or "500ms"`,
        );
      // "0s" disables the timeout.
      if (ms > 0) t[k === 'request' ? 'requestMs' : 'backendRequestMs'] = ms;
    }
    if (
      t.requestMs !== undefined &&
      t.backendRequestMs !== undefined &&
      t.backendRequestMs > t.requestMs
    ) {
      return drop(`${at}.timeouts.backendRequest must not be longer than timeouts.request`);
    }
    if (Object.keys(t).length > 0) rule.timeouts = t;
  }
  if (spec.retry !== undefined) {
    const r = translateRetry(spec.retry, `${at}.retry`);
    if ('problem' in r) return drop(r.problem);
    rule.retry = r.ok;
  }
  return { rule, unresolved };
}

function cond(
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  generation: number | undefined,
): StatusCondition {
  const c: StatusCondition = { type, status: ok ? 'True' : 'False', reason, message };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}

export function translateRoutes(routes: readonly HttpRoute[], ctx: RouteContext): RouteTranslation {
  const out: Route[] = [];
  const statuses: StatusReport[] = [];
  for (const hr of routes) {
    const name = hr.metadata?.name;
    const namespace = hr.metadata?.namespace;
    if (name === undefined || namespace === undefined) continue;
    const serviceParents = (hr.spec?.parentRefs ?? []).filter(isServiceRef);
    if (serviceParents.length === 0) continue; // a gateway's route, not ours
    const gen = hr.metadata?.generation;

    const parents: RouteParent[] = [];
    const parentProblems: string[] = [];
    for (const p of serviceParents) {
      const at = `spec.parentRefs[${(hr.spec?.parentRefs ?? []).indexOf(p)}]`;
      if (p.namespace !== undefined && p.namespace !== namespace) {
        parentProblems.push(
          `${at}: Service in another namespace (a consumer route) is not supported yet`,
        );
        continue;
      }
      const svc = ctx.index.services.get(`${namespace}/${p.name ?? ''}`);
      if (svc === undefined) {
        parentProblems.push(`${at}: Service ${namespace}/${p.name ?? ''} does not exist`);
        continue;
      }
      if (p.port !== undefined && !(svc.spec?.ports ?? []).some((sp) => sp.port === p.port)) {
        parentProblems.push(`${at}: Service ${namespace}/${p.name ?? ''} has no port ${p.port}`);
        continue;
      }
      const parent: RouteParent = { service: serviceKey({ namespace, name: p.name ?? '' }) };
      if (p.port !== undefined) parent.port = p.port;
      parents.push(parent);
    }

    const resolve: ResolveBackend = (ref, at) => {
      const kind = ref.kind ?? 'Service';
      if (
        kind !== 'Service' ||
        (ref.group !== undefined && ref.group !== '' && ref.group !== 'core')
      ) {
        return {
          problem: `${at}: kind ${ref.group ? `${ref.group}/` : ''}${kind} is not supported; use a Service`,
          reason: 'InvalidKind',
        };
      }
      if (ref.namespace !== undefined && ref.namespace !== namespace) {
        return {
          problem: `${at}: a Service in another namespace needs a ReferenceGrant, which is not supported yet`,
          reason: 'RefNotPermitted',
        };
      }
      const svcName = ref.name ?? '';
      const svc = ctx.index.services.get(`${namespace}/${svcName}`);
      if (svc === undefined)
        return {
          problem: `${at}: Service ${namespace}/${svcName} does not exist`,
          reason: 'BackendNotFound',
        };
      if (ref.port === undefined)
        return {
          problem: `${at}: port is required for a Service backend`,
          reason: 'UnsupportedValue',
        };
      if (!(svc.spec?.ports ?? []).some((sp) => sp.port === ref.port)) {
        return {
          problem: `${at}: Service ${namespace}/${svcName} has no port ${ref.port}`,
          reason: 'BackendNotFound',
        };
      }
      return {
        ok: {
          service: serviceKey({ namespace, name: svcName }),
          hostname: `${svcName}.${namespace}.svc.${ctx.clusterDomain}`,
          port: ref.port,
        },
      };
    };

    const rules: RouteRule[] = [];
    const dropped: string[] = [];
    const unresolved: Unresolved[] = [];
    for (const [i, r] of (hr.spec?.rules ?? []).entries()) {
      const o = translateRule(r, `spec.rules[${i}]`, resolve);
      unresolved.push(...o.unresolved);
      if (o.rule !== undefined) rules.push(o.rule);
      else if (o.dropped !== undefined) dropped.push(o.dropped);
    }

    const conditions: StatusCondition[] = [];
    const hadRules = (hr.spec?.rules ?? []).length > 0;
    if (parents.length === 0) {
      conditions.push(cond('Accepted', false, 'NoMatchingParent', parentProblems.join('; '), gen));
    } else if (hadRules && rules.length === 0) {
      conditions.push(
        cond(
          'Accepted',
          false,
          'UnsupportedValue',
          `every rule is invalid: ${dropped.join('; ')}`,
          gen,
        ),
      );
    } else {
      const partial = parentProblems.length > 0 ? ` (not bound: ${parentProblems.join('; ')})` : '';
      conditions.push(
        cond(
          'Accepted',
          true,
          'Accepted',
          `bound to ${parents.map((p) => p.service).join(', ')}${partial}`,
          gen,
        ),
      );
    }
    conditions.push(
      unresolved.length === 0
        ? cond('ResolvedRefs', true, 'ResolvedRefs', 'every backend resolves', gen)
        : cond(
            'ResolvedRefs',
            false,
            unresolved[0]?.reason ?? 'BackendNotFound',
            `${unresolved.map((u) => u.message).join('; ')}; requests sent to an unresolved backend get HTTP 500`,
            gen,
          ),
    );
    if (dropped.length > 0 && rules.length > 0) {
      conditions.push(
        cond('PartiallyInvalid', true, 'UnsupportedValue', `dropped: ${dropped.join('; ')}`, gen),
      );
    }
    statuses.push({ kind: 'HTTPRoute', namespace, name, conditions });
    if (parents.length === 0 || (hadRules && rules.length === 0)) continue;
    out.push({
      name,
      namespace,
      createdAt: kubeTimeString(hr.metadata?.creationTimestamp),
      parents,
      // An HTTPRoute without rules sends everything to... nothing: Gateway API gives it one
      // catch-all rule without backends (HTTP 500).
      rules: hadRules
        ? rules
        : [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], filters: [], backends: [] }],
    });
  }
  const k = (r: Route) => `${r.namespace}/${r.name}`;
  out.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
  return { routes: out, statuses };
}
