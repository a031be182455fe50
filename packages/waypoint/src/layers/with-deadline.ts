// Runs `next` with a deadline on the response *head*: when it expires first, the inner request is
// aborted (its upstream exchange cancelled) and WaypointTimeoutError is thrown. Once the head has
// arrived the body streams without a deadline (long downloads and gRPC streams are not cut).

import { WaypointTimeoutError } from '@ambit/core/errors';
import type { Handler, ProxyRequest, ProxyResponse } from '../http/types.ts';
import type { Clock } from './clock.ts';
import { discardBody } from '../http/discard-body.ts';

export async function withDeadline(
  next: Handler,
  req: ProxyRequest,
  ms: number,
  what: string,
  clock: Clock,
): Promise<ProxyResponse> {
  const ac = new AbortController();
  const inner: ProxyRequest = { ...req, signal: AbortSignal.any([req.signal, ac.signal]) };
  let timer: unknown;
  const expired = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      const err = new WaypointTimeoutError(`${what} of ${ms} ms expired`);
      ac.abort(err);
      reject(err);
    }, ms);
  });
  const work = next(inner);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clock.clearTimeout(timer);
    // A response that arrives after the deadline is dropped.
    if (ac.signal.aborted)
      void work.then(
        (r) => discardBody(r.body),
        () => {},
      );
  }
}
