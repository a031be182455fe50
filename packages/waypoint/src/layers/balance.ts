// The bottom of the stack: pick an endpoint of the planned upstream (P2C least-request, ejected
// endpoints skipped), send the exchange, and feed the outcome to outlier detection (5xx answers
// and connect failures count as failures).

import { WaypointConnectError } from '@ambit/core/errors';
import type { Handler, ProxyRequest } from '../http/types.ts';
import type { Balancer } from '../upstream/balancer.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { OutlierDetector } from '../upstream/outlier-detector.ts';

export interface BalanceDeps {
  balancer: Balancer;
  outliers: OutlierDetector;
  send(req: ProxyRequest, endpoint: Endpoint): ReturnType<Handler>;
  onEject?(endpoint: Endpoint): void;
}

export function balance(deps: BalanceDeps): Handler {
  return async (req) => {
    const plan = req.plan;
    if (plan?.kind !== 'forward') throw new Error('balance reached without a forward plan');
    const { endpoint, peers } = deps.balancer.pick(req.snapshot, plan.upstream);
    req.notes.upstreamHost = endpoint.key;
    req.notes.destinationWorkload = endpoint.workload;
    const done = deps.balancer.begin(endpoint.key);
    const record = (ok: boolean): void => {
      if (deps.outliers.record(endpoint.key, ok, peers)) deps.onEject?.(endpoint);
    };
    try {
      const res = await deps.send(req, endpoint);
      record(res.status < 500);
      if (res.body) {
        res.body.once('close', done);
        res.body.once('end', done);
      } else done();
      return res;
    } catch (err) {
      done();
      if (err instanceof WaypointConnectError) record(false);
      throw err;
    }
  };
}
