// HTTPRoute `timeouts.backendRequest`: each attempt to a backend, until its response head.

import type { Layer } from '../http/types.ts';
import { realClock, type Clock } from './clock.ts';
import { withDeadline } from './with-deadline.ts';

export function backendTimeout(clock: Clock = realClock): Layer {
  return (next) => (req) => {
    const ms = req.plan?.kind === 'forward' ? req.plan.backendTimeoutMs : undefined;
    return ms === undefined
      ? next(req)
      : withDeadline(next, req, ms, 'timeouts.backendRequest', clock);
  };
}
