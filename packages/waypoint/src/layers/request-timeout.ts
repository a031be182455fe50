// HTTPRoute `timeouts.request`: the whole request, every retry included, until the response head.

import type { Layer } from '../http/types.ts';
import { realClock, type Clock } from './clock.ts';
import { withDeadline } from './with-deadline.ts';

export function requestTimeout(clock: Clock = realClock): Layer {
  return (next) => (req) => {
    const ms = req.plan?.kind === 'forward' ? req.plan.requestTimeoutMs : undefined;
    return ms === undefined ? next(req) : withDeadline(next, req, ms, 'timeouts.request', clock);
  };
}
