// HTTPRoute selection: plans the request (routing/plan-request.ts) and answers redirects. The plan
// is stored on the request for the layers below.

import type { Layer } from '../http/types.ts';
import { planRequest } from '../routing/plan-request.ts';

export function route(random: () => number = Math.random): Layer {
  return (next) => (req) => {
    const q = req.path.indexOf('?');
    const plan = planRequest(
      req.snapshot,
      {
        method: req.method,
        path: q < 0 ? req.path : req.path.slice(0, q),
        query: q < 0 ? '' : req.path.slice(q + 1),
        headers: req.headers,
        authority: req.authority,
        target: req.conn.target,
      },
      random,
    );
    if (plan.routeName !== undefined) req.notes.routeName = plan.routeName;
    if (plan.kind === 'redirect') {
      req.body?.resume();
      return Promise.resolve({
        status: plan.status,
        headers: { location: plan.location, 'content-length': '0' },
        body: undefined,
      });
    }
    if (plan.upstream.kind === 'service') req.notes.destinationService = plan.upstream.service;
    // The request object is this request's alone (the edge made it): no copy needed.
    req.plan = plan;
    return next(req);
  };
}
