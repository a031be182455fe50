// HTTPRoute `retry`: attempts after the first for connect failures, resets, per-try timeouts and
// the listed status codes, waiting `backoffMs` × 2^(n-1) (capped at 10×) between attempts, each
// retry taken from the backend's RetryBudget. The body is kept for replay up to a bound; a longer
// body disables retries for that request. Upgrades are never retried.

import type { WaypointHttpError } from '@ambit/core/errors';
import {
  WaypointConnectError,
  WaypointTimeoutError,
  WaypointUpstreamResetError,
} from '@ambit/core/errors';
import { serviceKey } from '@ambit/core/mesh/types';
import type { RouteRetry } from '@ambit/core/mesh/route-types';
import type { Handler, Layer, ProxyRequest, ProxyResponse } from '../http/types.ts';
import type { UpstreamTarget } from '../routing/plan-request.ts';
import { realClock, type Clock } from './clock.ts';
import { bufferUpTo, replay } from './replayable-body.ts';
import type { RetryBudget } from './retry-budget.ts';
import { discardBody } from '../http/discard-body.ts';

export interface RetryOptions {
  budget: RetryBudget;
  /** Largest body kept for replay (default 1 MiB). */
  maxReplayBytes?: number;
  clock?: Clock;
  /** Called per retry made (`retried`) or refused by the budget (`budget_exhausted`). */
  onRetry?(req: ProxyRequest, outcome: 'retried' | 'budget_exhausted'): void;
}

export function budgetKey(t: UpstreamTarget): string {
  return t.kind === 'service'
    ? `${serviceKey(t.service)}:${t.port}`
    : `${t.workload.uid}:${t.port}`;
}

function retryable(err: unknown): boolean {
  return (
    err instanceof WaypointConnectError ||
    err instanceof WaypointUpstreamResetError ||
    err instanceof WaypointTimeoutError
  );
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal.reason as Error);
    };
    const handle = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function retry(opts: RetryOptions): Layer {
  const limit = opts.maxReplayBytes ?? 1024 * 1024;
  const clock = opts.clock ?? realClock;
  return (next) => (req) => {
    const plan = req.plan;
    if (plan?.kind !== 'forward') return next(req);
    const key = budgetKey(plan.upstream);
    opts.budget.request(key);
    const policy = plan.retry;
    if (policy === undefined || policy.attempts === 0 || req.upgrade) return next(req);
    return withRetries(next, req, key, policy);
  };

  async function withRetries(
    next: Handler,
    req: ProxyRequest,
    key: string,
    policy: RouteRetry,
  ): Promise<ProxyResponse> {
    let chunks: Buffer[] | undefined;
    if (req.body !== undefined) {
      const kept = await bufferUpTo(req.body, limit);
      if (kept.kind === 'too-large') return next({ ...req, body: kept.body });
      chunks = kept.chunks;
    }
    const attempt = (): Promise<ProxyResponse> =>
      next({ ...req, body: chunks === undefined ? undefined : replay(chunks) });

    for (let n = 0; ; n++) {
      let res: ProxyResponse | undefined;
      let error: unknown;
      try {
        res = await attempt();
      } catch (err) {
        if (!retryable(err) || req.signal.aborted) throw err;
        error = err;
      }
      if (res !== undefined && !policy.codes.includes(res.status)) return res;
      if (n >= policy.attempts) {
        req.notes.flag = 'URX';
        if (res !== undefined) return res;
        throw error as WaypointHttpError;
      }
      if (!opts.budget.tryRetry(key)) {
        req.notes.retriesDenied += 1;
        opts.onRetry?.(req, 'budget_exhausted');
        if (res !== undefined) return res;
        throw error as WaypointHttpError;
      }
      discardBody(res?.body);
      req.notes.retries += 1;
      opts.onRetry?.(req, 'retried');
      if (policy.backoffMs > 0)
        await sleep(clock, policy.backoffMs * Math.min(2 ** n, 10), req.signal);
    }
  }
}
