// Decide, then do: from the snapshot, the original destination and the request line, build the
// plan of one request — redirect, or forward to which backend with which filters, timeouts and
// retry policy. Pure (the random source is a parameter), table-tested without sockets.
//
// No route bound to the destination service: forward to that service itself, on the port the
// client dialled (the default route). A workload destination (pod IP): forward to it directly.

import {
  WaypointInvalidBackendError,
  WaypointNoEndpointError,
  WaypointNoRouteError,
} from '@ambit/core/errors';
import type {
  RouteBackend,
  RouteFilter,
  RouteHeaderModifier,
  RouteRetry,
} from '@ambit/core/mesh/route-types';
import type { Service, Workload } from '@ambit/core/mesh/types';
import type { RequestTarget } from '../http/types.ts';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';
import { findMatch, type MatchInput } from './route-table.ts';
import { redirectLocation, rewritePath } from './url-filters.ts';

/** Where a request goes: a service port (balanced over its endpoints) or one workload. */
export type UpstreamTarget =
  | { kind: 'service'; service: Service; port: number }
  | { kind: 'workload'; workload: Workload; port: number };

export interface MirrorTarget {
  target: UpstreamTarget;
  percent: number;
}

export type RoutePlan =
  | { kind: 'redirect'; routeName: string; status: number; location: string }
  | {
      kind: 'forward';
      /** `namespace/name` of the route, or undefined for the default route. */
      routeName: string | undefined;
      upstream: UpstreamTarget;
      /** RequestHeaderModifiers in order (rule's, then the backend's). */
      requestHeaders: readonly RouteHeaderModifier[];
      responseHeaders: readonly RouteHeaderModifier[];
      /** The rewritten path (with query), when URLRewrite changes it. */
      path?: string;
      /** The rewritten Host, when URLRewrite sets it. */
      authority?: string;
      mirrors: readonly MirrorTarget[];
      requestTimeoutMs?: number;
      backendTimeoutMs?: number;
      retry?: RouteRetry;
    };

export interface PlanInput extends MatchInput {
  authority: string;
  target: RequestTarget;
}

function pickWeighted(
  backends: readonly RouteBackend[],
  random: () => number,
): RouteBackend | undefined {
  const total = backends.reduce((n, b) => n + b.weight, 0);
  if (total <= 0) return undefined;
  let x = random() * total;
  for (const b of backends) {
    if (b.weight <= 0) continue;
    if (x < b.weight) return b;
    x -= b.weight;
  }
  return backends.findLast((b) => b.weight > 0);
}

function serviceTarget(snapshot: WaypointSnapshot, key: string, port: number): UpstreamTarget {
  const service = snapshot.mesh.services.get(key as never);
  if (service === undefined) throw new WaypointNoEndpointError(`backend service ${key} is unknown`);
  return { kind: 'service', service, port };
}

export function planRequest(
  snapshot: WaypointSnapshot,
  req: PlanInput,
  random: () => number = Math.random,
): RoutePlan {
  const t = req.target;
  if (t.kind === 'workload') {
    return {
      kind: 'forward',
      routeName: undefined,
      upstream: { kind: 'workload', workload: t.workload, port: t.port },
      requestHeaders: [],
      responseHeaders: [],
      mirrors: [],
    };
  }
  const key = `${t.service.namespace}/${t.service.name}`;
  const matches = snapshot.routes.matchesFor(key as never, t.port);
  if (matches.length === 0) {
    return {
      kind: 'forward',
      routeName: undefined,
      upstream: { kind: 'service', service: t.service, port: t.port },
      requestHeaders: [],
      responseHeaders: [],
      mirrors: [],
    };
  }
  const m = findMatch(matches, req);
  if (m === undefined)
    throw new WaypointNoRouteError(`no route of ${key} matches ${req.method} ${req.path}`);
  const routeName = `${m.route.namespace}/${m.route.name}`;
  const filters: RouteFilter[] = [...m.rule.filters];

  const redirect = filters.find((f) => f.type === 'RequestRedirect');
  if (redirect !== undefined) {
    return {
      kind: 'redirect',
      routeName,
      status: redirect.requestRedirect.statusCode,
      location: redirectLocation(redirect.requestRedirect, m.match, req),
    };
  }

  const backend = pickWeighted(m.rule.backends, random);
  if (backend === undefined)
    throw new WaypointInvalidBackendError(`route ${routeName} has no backend with weight`);
  if (backend.kind === 'invalid')
    throw new WaypointInvalidBackendError(
      `route ${routeName}: backend is invalid: ${backend.reason}`,
    );
  filters.push(...(backend.filters ?? []));

  const plan: Extract<RoutePlan, { kind: 'forward' }> = {
    kind: 'forward',
    routeName,
    upstream: serviceTarget(snapshot, backend.service, backend.port),
    requestHeaders: [],
    responseHeaders: [],
    mirrors: [],
  };
  const requestHeaders: RouteHeaderModifier[] = [];
  const responseHeaders: RouteHeaderModifier[] = [];
  const mirrors: MirrorTarget[] = [];
  for (const f of filters) {
    switch (f.type) {
      case 'RequestHeaderModifier':
        requestHeaders.push(f.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        responseHeaders.push(f.responseHeaderModifier);
        break;
      case 'URLRewrite':
        if (f.urlRewrite.hostname !== undefined) plan.authority = f.urlRewrite.hostname;
        if (f.urlRewrite.path !== undefined) {
          const path = rewritePath(f.urlRewrite.path, m.match, req.path);
          plan.path = req.query === '' ? path : `${path}?${req.query}`;
        }
        break;
      case 'RequestMirror': {
        const s = snapshot.mesh.services.get(f.requestMirror.service);
        if (s !== undefined)
          mirrors.push({
            target: { kind: 'service', service: s, port: f.requestMirror.port },
            percent: f.requestMirror.percent,
          });
        break;
      }
      case 'RequestRedirect':
        break; // handled above
    }
  }
  plan.requestHeaders = requestHeaders;
  plan.responseHeaders = responseHeaders;
  plan.mirrors = mirrors;
  if (m.rule.timeouts?.requestMs !== undefined) plan.requestTimeoutMs = m.rule.timeouts.requestMs;
  if (m.rule.timeouts?.backendRequestMs !== undefined)
    plan.backendTimeoutMs = m.rule.timeouts.backendRequestMs;
  if (m.rule.retry !== undefined) plan.retry = m.rule.retry;
  return plan;
}
