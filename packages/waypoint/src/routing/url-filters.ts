// URLRewrite and RequestRedirect path arithmetic (Gateway API semantics), pure.

import type { RouteFilter, RouteMatch, RoutePathModifier } from '@ambit/core/mesh/route-types';

type Redirect = Extract<RouteFilter, { type: 'RequestRedirect' }>['requestRedirect'];

/**
 * The new path for `path` (no query). ReplacePrefixMatch replaces the matched PathPrefix:
 * prefix `/foo` + replacement `/bar` turns `/foo/x` into `/bar/x`, and `/` keeps a leading slash.
 */
export function rewritePath(mod: RoutePathModifier, match: RouteMatch, path: string): string {
  if (mod.type === 'ReplaceFullPath') return mod.replaceFullPath;
  if (match.path.type !== 'PathPrefix') return path; // the controller only allows it with a prefix
  const prefix =
    match.path.value.endsWith('/') && match.path.value !== '/'
      ? match.path.value.slice(0, -1)
      : match.path.value;
  const rest = prefix === '/' ? path : path.slice(prefix.length);
  const repl = mod.replacePrefixMatch.endsWith('/')
    ? mod.replacePrefixMatch.slice(0, -1)
    : mod.replacePrefixMatch;
  const joined = repl + (rest === '' || rest.startsWith('/') ? rest : `/${rest}`);
  return joined === '' ? '/' : joined;
}

/** The Location header of a RequestRedirect for a request to `authority` + `path`?`query`. */
export function redirectLocation(
  r: Redirect,
  match: RouteMatch,
  req: { authority: string; path: string; query: string },
): string {
  const scheme = r.scheme ?? 'http';
  const [host, reqPort] = splitAuthority(req.authority);
  const hostname = r.hostname ?? host;
  let port = r.port ?? (r.scheme !== undefined ? undefined : reqPort);
  if ((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)) port = undefined;
  const path = r.path ? rewritePath(r.path, match, req.path) : req.path;
  const q = req.query === '' ? '' : `?${req.query}`;
  return `${scheme}://${hostname}${port === undefined ? '' : `:${port}`}${path}${q}`;
}

function splitAuthority(a: string): [string, number | undefined] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a);
  if (!m) return [a, undefined];
  return [m[1] ?? a, m[2] === undefined ? undefined : Number(m[2])];
}
