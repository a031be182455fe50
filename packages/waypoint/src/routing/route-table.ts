// The routes bound to each Service, compiled once per config update into one ordered list of
// matches per (service, port), so a request walks a flat list and takes the first match.
// Precedence follows Gateway API (HTTPRoute spec, "matching precedence"): exact path, then
// regular expressions (implementation-specific there; Istio's order), then prefix; longer prefix first; then a match with a method; more header matches; more query
// matches; then the older route; then namespace/name; then rule and match order.

import type { Route, RouteMatch, RouteRule } from '@ambit/core/mesh/route-types';
import type { ServiceKey } from '@ambit/core/mesh/types';

/** One match of one rule of one route, with its regular expressions compiled. */
export interface CompiledMatch {
  route: Route;
  rule: RouteRule;
  ruleIndex: number;
  match: RouteMatch;
  test(req: MatchInput): boolean;
}

/** What matching looks at. Header names lower case. */
export interface MatchInput {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string without '?', or ''. */
  query: string;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** Matches by service and port; `undefined` port holds the routes bound to every port. */
export interface RouteTable {
  /** The ordered matches for a request to `service` on service port `port` (empty: no route). */
  matchesFor(service: ServiceKey, port: number): readonly CompiledMatch[];
  readonly routes: readonly Route[];
}

function headerValue(h: MatchInput['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : (v as string | undefined);
}

function compileValue(type: 'Exact' | 'RegularExpression', value: string): (v: string) => boolean {
  if (type === 'Exact') return (v) => v === value;
  const re = new RegExp(`^(?:${value})$`, 'u');
  return (v) => re.test(v);
}

function compile(route: Route, rule: RouteRule, ruleIndex: number, m: RouteMatch): CompiledMatch {
  const p = m.path;
  let pathTest: (path: string) => boolean;
  if (p.type === 'Exact') pathTest = (path) => path === p.value;
  else if (p.type === 'PathPrefix') {
    const prefix = p.value.endsWith('/') && p.value !== '/' ? p.value.slice(0, -1) : p.value;
    pathTest =
      prefix === '/'
        ? () => true
        : (path) => path === prefix || (path.startsWith(prefix) && path[prefix.length] === '/');
  } else {
    const re = new RegExp(`^(?:${p.value})$`, 'u');
    pathTest = (path) => re.test(path);
  }
  const headers = (m.headers ?? []).map((h) => ({
    name: h.name,
    test: compileValue(h.type, h.value),
  }));
  const query = (m.queryParams ?? []).map((q) => ({
    name: q.name,
    test: compileValue(q.type, q.value),
  }));
  const method = m.method;
  return {
    route,
    rule,
    ruleIndex,
    match: m,
    test(req) {
      if (method !== undefined && req.method !== method) return false;
      if (!pathTest(req.path)) return false;
      for (const h of headers) {
        const v = headerValue(req.headers, h.name);
        if (v === undefined || !h.test(v)) return false;
      }
      if (query.length > 0) {
        const params = new URLSearchParams(req.query);
        for (const q of query) {
          const v = params.get(q.name);
          if (v === null || !q.test(v)) return false;
        }
      }
      return true;
    },
  };
}

/** Negative when `a` takes precedence over `b`. */
function precedence(a: CompiledMatch, b: CompiledMatch): number {
  const kind = (m: RouteMatch): number =>
    m.path.type === 'Exact' ? 0 : m.path.type === 'RegularExpression' ? 1 : 2;
  return (
    kind(a.match) - kind(b.match) ||
    (a.match.path.type === 'PathPrefix'
      ? b.match.path.value.length - a.match.path.value.length
      : 0) ||
    Number(b.match.method !== undefined) - Number(a.match.method !== undefined) ||
    (b.match.headers?.length ?? 0) - (a.match.headers?.length ?? 0) ||
    (b.match.queryParams?.length ?? 0) - (a.match.queryParams?.length ?? 0) ||
    Date.parse(a.route.createdAt) - Date.parse(b.route.createdAt) ||
    `${a.route.namespace}/${a.route.name}`.localeCompare(`${b.route.namespace}/${b.route.name}`) ||
    a.ruleIndex - b.ruleIndex
  );
}

/** Compiles every route's matches into per-(service, port) ordered lists. */
export function buildRouteTable(routes: readonly Route[]): RouteTable {
  // service → port ('*' = all ports) → matches
  const byService = new Map<ServiceKey, Map<number | '*', CompiledMatch[]>>();
  for (const route of routes) {
    const compiled = route.rules.flatMap((rule, i) =>
      rule.matches.map((m) => compile(route, rule, i, m)),
    );
    for (const parent of route.parents) {
      const ports = byService.get(parent.service) ?? new Map<number | '*', CompiledMatch[]>();
      byService.set(parent.service, ports);
      const key = parent.port ?? '*';
      ports.set(key, [...(ports.get(key) ?? []), ...compiled]);
    }
  }
  const cache = new Map<string, readonly CompiledMatch[]>();
  return {
    routes,
    matchesFor(service, port) {
      const k = `${service}:${port}`;
      let list = cache.get(k);
      if (list === undefined) {
        const ports = byService.get(service);
        list = ports
          ? [...(ports.get(port) ?? []), ...(ports.get('*') ?? [])].sort(precedence)
          : [];
        cache.set(k, list);
      }
      return list;
    },
  };
}

/** The first match for a request, or undefined when routes exist but none matches (→ 404). */
export function findMatch(
  matches: readonly CompiledMatch[],
  req: MatchInput,
): CompiledMatch | undefined {
  for (const m of matches) if (m.test(req)) return m;
  return undefined;
}
