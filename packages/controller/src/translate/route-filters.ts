// Gateway API HTTPRoute filters → RouteFilter. Each function returns the filter or a problem
// message; the caller decides what a problem drops (the rule, or only a mirror).

import type { ServiceKey } from '@ambit/core/mesh/types';
import type {
  RouteFilter,
  RouteHeaderModifier,
  RoutePathModifier,
} from '@ambit/core/mesh/route-types';
import type { HeaderModifierSpec, HttpRouteFilterSpec, PathModifierSpec } from './cluster-state.ts';

/** A result, or a problem for the status (`reason`: a Gateway API reason such as BackendNotFound). */
export type Checked<T> = { ok: T } | { problem: string; reason?: string };

const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;

function headerModifier(
  spec: HeaderModifierSpec | undefined,
  at: string,
): Checked<RouteHeaderModifier> {
  if (spec === undefined) return { problem: `${at} is required for this filter type` };
  const out: { -readonly [K in keyof RouteHeaderModifier]: RouteHeaderModifier[K] } = {};
  for (const op of ['set', 'add'] as const) {
    const list = spec[op];
    if (list === undefined) continue;
    const items: { name: string; value: string }[] = [];
    for (const [i, h] of list.entries()) {
      if (h.name === undefined || !HEADER_NAME_RE.test(h.name)) {
        return { problem: `${at}.${op}[${i}].name ${JSON.stringify(h.name)} is not a header name` };
      }
      items.push({ name: h.name.toLowerCase(), value: h.value ?? '' });
    }
    out[op] = items;
  }
  if (spec.remove !== undefined) {
    for (const [i, n] of spec.remove.entries()) {
      if (!HEADER_NAME_RE.test(n)) {
        return { problem: `${at}.remove[${i}] ${JSON.stringify(n)} is not a header name` };
      }
    }
    out.remove = spec.remove.map((n) => n.toLowerCase());
  }
  return { ok: out };
}

function pathModifier(spec: PathModifierSpec, at: string): Checked<RoutePathModifier> {
  if (spec.type === 'ReplaceFullPath' && spec.replaceFullPath !== undefined) {
    return { ok: { type: 'ReplaceFullPath', replaceFullPath: spec.replaceFullPath } };
  }
  if (spec.type === 'ReplacePrefixMatch' && spec.replacePrefixMatch !== undefined) {
    return { ok: { type: 'ReplacePrefixMatch', replacePrefixMatch: spec.replacePrefixMatch } };
  }
  return {
    problem: `${at}: type must be ReplaceFullPath (with replaceFullPath) or ReplacePrefixMatch (with replacePrefixMatch)`,
  };
}

/** Resolves a backend reference to a Service port in the route's namespace. */
export type ResolveBackend = (
  ref: { group?: string; kind?: string; name?: string; namespace?: string; port?: number },
  at: string,
) => Checked<{ service: ServiceKey; hostname: string; port: number }>;

/**
 * One filter. `prefixMatch` tells whether the rule's matches are all PathPrefix, which
 * ReplacePrefixMatch requires.
 */
export function translateFilter(
  f: HttpRouteFilterSpec,
  at: string,
  resolve: ResolveBackend,
  prefixMatch: boolean,
): Checked<RouteFilter> {
  switch (f.type) {
    case 'RequestHeaderModifier': {
      const m = headerModifier(f.requestHeaderModifier, `${at}.requestHeaderModifier`);
      return 'ok' in m ? { ok: { type: f.type, requestHeaderModifier: m.ok } } : m;
    }
    case 'ResponseHeaderModifier': {
      const m = headerModifier(f.responseHeaderModifier, `${at}.responseHeaderModifier`);
      return 'ok' in m ? { ok: { type: f.type, responseHeaderModifier: m.ok } } : m;
    }
    case 'URLRewrite':
    case 'RequestRedirect': {
      const spec = f.type === 'URLRewrite' ? f.urlRewrite : f.requestRedirect;
      const field = f.type === 'URLRewrite' ? 'urlRewrite' : 'requestRedirect';
      if (spec === undefined) return { problem: `${at}.${field} is required for type ${f.type}` };
      let path: RoutePathModifier | undefined;
      if (spec.path !== undefined) {
        const p = pathModifier(spec.path, `${at}.${field}.path`);
        if ('problem' in p) return p;
        if (p.ok.type === 'ReplacePrefixMatch' && !prefixMatch) {
          return {
            problem: `${at}.${field}.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match`,
          };
        }
        path = p.ok;
      }
      if (f.type === 'URLRewrite') {
        const urlRewrite: { hostname?: string; path?: RoutePathModifier } = {};
        if (spec.hostname !== undefined) urlRewrite.hostname = spec.hostname;
        if (path !== undefined) urlRewrite.path = path;
        return { ok: { type: 'URLRewrite', urlRewrite } };
      }
      const r = f.requestRedirect ?? {};
      const statusCode = r.statusCode ?? 302;
      if (!(REDIRECT_CODES as readonly number[]).includes(statusCode)) {
        return {
          problem: `${at}.requestRedirect.statusCode ${statusCode} is not one of ${REDIRECT_CODES.join(', ')}`,
        };
      }
      if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') {
        return {
          problem: `${at}.requestRedirect.scheme ${JSON.stringify(r.scheme)} is not http or https`,
        };
      }
      const requestRedirect: Extract<RouteFilter, { type: 'RequestRedirect' }>['requestRedirect'] =
        {
          statusCode: statusCode as (typeof REDIRECT_CODES)[number],
        };
      if (r.scheme !== undefined) requestRedirect.scheme = r.scheme;
      if (r.hostname !== undefined) requestRedirect.hostname = r.hostname;
      if (path !== undefined) requestRedirect.path = path;
      if (r.port !== undefined) requestRedirect.port = r.port;
      return { ok: { type: 'RequestRedirect', requestRedirect } };
    }
    case 'RequestMirror': {
      const m = f.requestMirror;
      if (m?.backendRef === undefined)
        return { problem: `${at}.requestMirror.backendRef is required` };
      const b = resolve(m.backendRef, `${at}.requestMirror.backendRef`);
      if ('problem' in b) return b;
      let percent = 100;
      if (m.percent !== undefined) percent = m.percent;
      else if (m.fraction?.numerator !== undefined) {
        const den = m.fraction.denominator ?? 100;
        if (den <= 0)
          return { problem: `${at}.requestMirror.fraction.denominator must be positive` };
        percent = (m.fraction.numerator / den) * 100;
      }
      if (!(percent >= 0 && percent <= 100)) {
        return { problem: `${at}.requestMirror: the mirrored share must be 0-100%` };
      }
      return {
        ok: {
          type: 'RequestMirror',
          requestMirror: { service: b.ok.service, port: b.ok.port, percent },
        },
      };
    }
    case undefined:
    default:
      return {
        problem: `${at}.type ${JSON.stringify(f.type)} is not supported (supported: RequestHeaderModifier, ResponseHeaderModifier, URLRewrite, RequestRedirect, RequestMirror)`,
      };
  }
}
