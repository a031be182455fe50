// The waypoint's request path, top to bottom (STYLE.md: one layer per L7 feature, ordered here):
//
//   observe         traceparent, then metrics + one access-log line when the response ends
//   rescue          the one place errors become responses (403, 404, 500, 502, 503, 504 + flag)
//   authorize       L7 AuthorizationPolicy with the HBONE client's identity
//   route           HTTPRoute match → plan (backend, filters, timeouts, retry) or redirect
//   requestTimeout  timeouts.request, across every attempt
//   headerFilters   RequestHeaderModifier, URLRewrite; ResponseHeaderModifier on the way back
//   mirror          RequestMirror copies (fire and forget)
//   retry           attempts, codes, backoff, retry budget, bounded body replay
//   backendTimeout  timeouts.backendRequest, per attempt
//   balance         endpoint (P2C least-request, outlier detection) → HBONE → HTTP exchange

import type { Logger } from '@ambit/core/log';
import type { Handler, Layer, ProxyRequest } from './http/types.ts';
import { authorize, type WaypointName } from './layers/authorize.ts';
import { backendTimeout } from './layers/backend-timeout.ts';
import { balance, type BalanceDeps } from './layers/balance.ts';
import { realClock, type Clock } from './layers/clock.ts';
import { headerFilters } from './layers/header-filters.ts';
import { mirror } from './layers/mirror.ts';
import { observe } from './layers/observe.ts';
import { requestTimeout } from './layers/request-timeout.ts';
import { rescue } from './layers/rescue.ts';
import { retry } from './layers/retry.ts';
import type { RetryBudget } from './layers/retry-budget.ts';
import { route } from './layers/route.ts';
import type { WaypointMetrics } from './telemetry/metrics.ts';

export interface StackDeps extends BalanceDeps {
  self: WaypointName;
  metrics: WaypointMetrics;
  accessLog: Logger;
  budget: RetryBudget;
  maxReplayBytes?: number;
  clock?: Clock;
  random?: () => number;
}

function compose(layers: readonly Layer[], bottom: Handler): Handler {
  return layers.reduceRight<Handler>((next, layer) => layer(next), bottom);
}

export function buildStack(deps: StackDeps): Handler {
  const clock = deps.clock ?? realClock;
  const random = deps.random ?? Math.random;
  const bottom = balance(deps);
  return compose(
    [
      observe({ metrics: deps.metrics, accessLog: deps.accessLog }),
      rescue(),
      authorize(deps.self),
      route(random),
      requestTimeout(clock),
      headerFilters(),
      mirror(bottom, (outcome) => deps.metrics.mirrors.inc({ outcome }), random),
      retry({
        budget: deps.budget,
        clock,
        ...(deps.maxReplayBytes !== undefined && { maxReplayBytes: deps.maxReplayBytes }),
        onRetry: (req: ProxyRequest, outcome) =>
          deps.metrics.retries.inc({
            destination_service: req.notes.destinationService?.hostname ?? 'unknown',
            outcome,
          }),
      }),
      backendTimeout(clock),
    ],
    bottom,
  );
}
