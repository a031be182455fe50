// Untrusted JSON (a config-stream `Route`, or a `routes:` entry of the local file) → the Route the
// data path uses. The controller already resolved Gateway API semantics (translate-routes.ts);
// this only checks shapes, so a malformed message is refused (NACK) instead of crashing a request.
// Regular expressions are compiled here once, so a bad one is refused with the update.

import { WaypointRouteError } from '@ambit/core/errors';
import { FieldReader, join } from '@ambit/core/mesh/field-reader';
import type {
  Route,
  RouteBackend,
  RouteFilter,
  RouteHeaderModifier,
  RouteMatch,
  RoutePathModifier,
  RouteRule,
  RouteValueMatch,
} from '@ambit/core/mesh/route-types';
import type { ServiceKey } from '@ambit/core/mesh/types';

const reader = (): FieldReader => new FieldReader((m) => new WaypointRouteError(m));

function regex(r: FieldReader, source: string, path: string): void {
  try {
    new RegExp(source, 'u');
  } catch {
    r.fail(path, `${JSON.stringify(source)} is not a valid regular expression`);
  }
}

function serviceKeyOf(r: FieldReader, v: unknown, path: string): ServiceKey {
  const s = r.string(v, path);
  if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(s))
    r.fail(path, `${JSON.stringify(s)} is not namespace/name`);
  return s as ServiceKey;
}

function valueMatch(r: FieldReader, v: unknown, path: string, lower: boolean): RouteValueMatch {
  const o = r.object(v, path);
  const type = r.oneOf(o.type, join(path, 'type'), ['Exact', 'RegularExpression'] as const);
  const name = r.string(o.name, join(path, 'name'));
  const value = r.string(o.value, join(path, 'value'));
  if (type === 'RegularExpression') regex(r, value, join(path, 'value'));
  return { type, name: lower ? name.toLowerCase() : name, value };
}

function match(r: FieldReader, v: unknown, path: string): RouteMatch {
  const o = r.object(v, path);
  const p = r.object(o.path ?? { type: 'PathPrefix', value: '/' }, join(path, 'path'));
  const type = r.oneOf(p.type, join(path, 'path.type'), [
    'Exact',
    'PathPrefix',
    'RegularExpression',
  ] as const);
  const value = r.string(p.value, join(path, 'path.value'));
  if (type === 'RegularExpression') regex(r, value, join(path, 'path.value'));
  const m: RouteMatch = { path: { type, value } };
  const headers = r.optionalArray(o.headers, join(path, 'headers'));
  if (headers.length > 0)
    m.headers = headers.map((h, i) => valueMatch(r, h, join(join(path, 'headers'), i), true));
  const query = r.optionalArray(o.queryParams, join(path, 'queryParams'));
  if (query.length > 0)
    m.queryParams = query.map((q, i) =>
      valueMatch(r, q, join(join(path, 'queryParams'), i), false),
    );
  const method = r.optionalString(o.method, join(path, 'method'));
  if (method !== undefined) m.method = method.toUpperCase();
  return m;
}

function headerModifier(r: FieldReader, v: unknown, path: string): RouteHeaderModifier {
  const o = r.object(v, path);
  const pairs = (key: string): { name: string; value: string }[] =>
    r.optionalArray(o[key], join(path, key)).map((e, i) => {
      const p = r.object(e, join(join(path, key), i));
      return {
        name: r.string(p.name, join(join(path, key), i)).toLowerCase(),
        value: r.string(p.value, join(join(path, key), i)),
      };
    });
  return {
    set: pairs('set'),
    add: pairs('add'),
    remove: r
      .optionalArray(o.remove, join(path, 'remove'))
      .map((n, i) => r.string(n, join(join(path, 'remove'), i)).toLowerCase()),
  };
}

function pathModifier(r: FieldReader, v: unknown, path: string): RoutePathModifier {
  const o = r.object(v, path);
  const type = r.oneOf(o.type, join(path, 'type'), [
    'ReplaceFullPath',
    'ReplacePrefixMatch',
  ] as const);
  return type === 'ReplaceFullPath'
    ? { type, replaceFullPath: r.string(o.replaceFullPath, join(path, 'replaceFullPath')) }
    : {
        type,
        replacePrefixMatch: r.string(o.replacePrefixMatch, join(path, 'replacePrefixMatch')),
      };
}

function filter(r: FieldReader, v: unknown, path: string): RouteFilter {
  const o = r.object(v, path);
  const type = r.oneOf(o.type, join(path, 'type'), [
    'RequestHeaderModifier',
    'ResponseHeaderModifier',
    'URLRewrite',
    'RequestRedirect',
    'RequestMirror',
  ] as const);
  switch (type) {
    case 'RequestHeaderModifier':
      return {
        type,
        requestHeaderModifier: headerModifier(r, o.requestHeaderModifier, join(path, type)),
      };
    case 'ResponseHeaderModifier':
      return {
        type,
        responseHeaderModifier: headerModifier(r, o.responseHeaderModifier, join(path, type)),
      };
    case 'URLRewrite': {
      const u = r.object(o.urlRewrite, join(path, 'urlRewrite'));
      const rewrite: { hostname?: string; path?: RoutePathModifier } = {};
      const hostname = r.optionalString(u.hostname, join(path, 'urlRewrite.hostname'));
      if (hostname !== undefined) rewrite.hostname = hostname;
      if (u.path !== undefined)
        rewrite.path = pathModifier(r, u.path, join(path, 'urlRewrite.path'));
      return { type, urlRewrite: rewrite };
    }
    case 'RequestRedirect': {
      const p = join(path, 'requestRedirect');
      const u = r.object(o.requestRedirect, p);
      const redirect: Extract<RouteFilter, { type: 'RequestRedirect' }>['requestRedirect'] = {
        statusCode: redirectCode(r, u.statusCode, join(p, 'statusCode')),
      };
      if (u.scheme !== undefined)
        redirect.scheme = r.oneOf(u.scheme, join(p, 'scheme'), ['http', 'https'] as const);
      const hostname = r.optionalString(u.hostname, join(p, 'hostname'));
      if (hostname !== undefined) redirect.hostname = hostname;
      if (u.port !== undefined) redirect.port = r.port(u.port, join(p, 'port'));
      if (u.path !== undefined) redirect.path = pathModifier(r, u.path, join(p, 'path'));
      return { type, requestRedirect: redirect };
    }
    case 'RequestMirror': {
      const p = join(path, 'requestMirror');
      const u = r.object(o.requestMirror, p);
      return {
        type,
        requestMirror: {
          service: serviceKeyOf(r, u.service, join(p, 'service')),
          port: r.port(u.port, join(p, 'port')),
          percent: u.percent === undefined ? 100 : r.integer(u.percent, join(p, 'percent'), 0, 100),
        },
      };
    }
  }
}

const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;
type RedirectCode = (typeof REDIRECT_CODES)[number];

function redirectCode(r: FieldReader, v: unknown, path: string): RedirectCode {
  if (v === undefined) return 302;
  const n = r.integer(v, path, 300, 399);
  const code = REDIRECT_CODES.find((c) => c === n);
  return code ?? r.fail(path, `${n} is not one of ${REDIRECT_CODES.join(', ')}`);
}

function backend(r: FieldReader, v: unknown, path: string): RouteBackend {
  const o = r.object(v, path);
  const weight =
    o.weight === undefined ? 1 : r.integer(o.weight, join(path, 'weight'), 0, 1_000_000);
  if (o.kind === 'invalid')
    return { kind: 'invalid', reason: r.string(o.reason, join(path, 'reason')), weight };
  r.oneOf(o.kind ?? 'service', join(path, 'kind'), ['service'] as const);
  const service = serviceKeyOf(r, o.service, join(path, 'service'));
  const b: RouteBackend = {
    kind: 'service',
    service,
    hostname: r.optionalString(o.hostname, join(path, 'hostname')) ?? '',
    port: r.port(o.port, join(path, 'port')),
    weight,
  };
  const filters = r.optionalArray(o.filters, join(path, 'filters'));
  if (filters.length > 0)
    b.filters = filters.map((f, i) => filter(r, f, join(join(path, 'filters'), i)));
  return b;
}

function rule(r: FieldReader, v: unknown, path: string): RouteRule {
  const o = r.object(v, path);
  const matches = r.optionalArray(o.matches, join(path, 'matches'));
  const out: RouteRule = {
    matches:
      matches.length === 0
        ? [{ path: { type: 'PathPrefix', value: '/' } }]
        : matches.map((m, i) => match(r, m, join(join(path, 'matches'), i))),
    filters: r
      .optionalArray(o.filters, join(path, 'filters'))
      .map((f, i) => filter(r, f, join(join(path, 'filters'), i))),
    backends: r
      .optionalArray(o.backends, join(path, 'backends'))
      .map((b, i) => backend(r, b, join(join(path, 'backends'), i))),
  };
  const name = r.optionalString(o.name, join(path, 'name'));
  if (name !== undefined) out.name = name;
  if (o.timeouts !== undefined && o.timeouts !== null) {
    const t = r.object(o.timeouts, join(path, 'timeouts'));
    const timeouts: { requestMs?: number; backendRequestMs?: number } = {};
    if (t.requestMs !== undefined)
      timeouts.requestMs = r.integer(t.requestMs, join(path, 'timeouts.requestMs'), 1, 2 ** 31 - 1);
    if (t.backendRequestMs !== undefined)
      timeouts.backendRequestMs = r.integer(
        t.backendRequestMs,
        join(path, 'timeouts.backendRequestMs'),
        1,
        2 ** 31 - 1,
      );
    out.timeouts = timeouts;
  }
  if (o.retry !== undefined && o.retry !== null) {
    const p = join(path, 'retry');
    const t = r.object(o.retry, p);
    out.retry = {
      attempts: r.integer(t.attempts ?? 1, join(p, 'attempts'), 0, 100),
      codes: r
        .optionalArray(t.codes, join(p, 'codes'))
        .map((c, i) => r.integer(c, join(join(p, 'codes'), i), 100, 599)),
      backoffMs: r.integer(t.backoffMs ?? 0, join(p, 'backoffMs'), 0, 3_600_000),
    };
  }
  return out;
}

/** Validates one Route. Throws WaypointRouteError naming the field. */
export function decodeRoute(v: unknown, path = 'route'): Route {
  const r = reader();
  const o = r.object(v, path);
  return {
    name: r.name(o.name, join(path, 'name')),
    namespace: r.name(o.namespace, join(path, 'namespace')),
    createdAt: r.optionalString(o.createdAt, join(path, 'createdAt')) ?? '1970-01-01T00:00:00Z',
    parents: r.array(o.parents, join(path, 'parents')).map((p, i) => {
      const q = r.object(p, join(join(path, 'parents'), i));
      const parent: { service: ServiceKey; port?: number } = {
        service: serviceKeyOf(r, q.service, join(join(path, 'parents'), i)),
      };
      if (q.port !== undefined) parent.port = r.port(q.port, join(join(path, 'parents'), i));
      return parent;
    }),
    rules: r
      .array(o.rules, join(path, 'rules'))
      .map((x, i) => rule(r, x, join(join(path, 'rules'), i))),
  };
}
