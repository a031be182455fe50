// RequestHeaderModifier, URLRewrite (on the way in) and ResponseHeaderModifier (on the way out).

import type { RouteHeaderModifier } from '@ambit/core/mesh/route-types';
import type { Handler, HeaderMap, Layer, ProxyRequest, ProxyResponse } from '../http/types.ts';
import type { RoutePlan } from '../routing/plan-request.ts';

export function modifyHeaders(headers: HeaderMap, mods: readonly RouteHeaderModifier[]): HeaderMap {
  if (mods.length === 0) return headers;
  const out: HeaderMap = { ...headers };
  for (const m of mods) {
    for (const { name, value } of m.set ?? []) out[name] = value;
    for (const { name, value } of m.add ?? []) {
      const old = out[name];
      out[name] = old === undefined ? value : [...(Array.isArray(old) ? old : [old]), value];
    }
    for (const name of m.remove ?? []) delete out[name];
  }
  return out;
}

export function headerFilters(): Layer {
  return (next) => (req) => {
    const plan = req.plan;
    if (plan?.kind !== 'forward') return next(req);
    if (
      plan.requestHeaders.length === 0 &&
      plan.responseHeaders.length === 0 &&
      plan.path === undefined &&
      plan.authority === undefined
    )
      return next(req);
    return filtered(next, req, plan);
  };
}

async function filtered(
  next: Handler,
  req: ProxyRequest,
  plan: Extract<RoutePlan, { kind: 'forward' }>,
): Promise<ProxyResponse> {
  const res = await next({
    ...req,
    headers: modifyHeaders(req.headers, plan.requestHeaders),
    path: plan.path ?? req.path,
    authority: plan.authority ?? req.authority,
  });
  return plan.responseHeaders.length === 0
    ? res
    : { ...res, headers: modifyHeaders(res.headers, plan.responseHeaders) };
}
