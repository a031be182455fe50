// L7 authorization with the HBONE client's identity: the AuthorizationPolicies whose targetRefs
// name the destination Service or this Waypoint (DESIGN.md "Policy semantics": DENY first; no
// ALLOW applies → allow; an ALLOW matches → allow; else deny).

import { WaypointDeniedError } from '@ambit/core/errors';
import { evaluateL7, selectTargetPolicies } from '@ambit/core/policy/evaluate';
import type { Authorization } from '@ambit/core/policy/types';
import type { Layer, ProxyRequest } from '../http/types.ts';
import { PerSnapshot } from '../state/per-snapshot.ts';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';

/** Which Waypoint this is, for policies whose targetRefs name it. */
export interface WaypointName {
  name: string;
  namespace: string;
}

const cache = new PerSnapshot<Authorization[]>();

/** The policies for a request's destination, computed once per snapshot and destination. */
export function policiesFor(
  snapshot: WaypointSnapshot,
  req: Pick<ProxyRequest, 'conn'>,
  self: WaypointName,
): Authorization[] {
  const t = req.conn.target;
  const key = `${self.namespace}/${self.name} ${t.kind === 'service' ? `${t.service.namespace}/${t.service.name}` : ''}`;
  return cache.get(snapshot, key, () => selectPolicies(snapshot, req, self));
}

function selectPolicies(
  snapshot: WaypointSnapshot,
  req: Pick<ProxyRequest, 'conn'>,
  self: WaypointName,
): Authorization[] {
  const all = [...snapshot.mesh.policies.values()];
  const out = selectTargetPolicies(all, { kind: 'Waypoint', ...self });
  const t = req.conn.target;
  if (t.kind === 'service')
    out.push(
      ...selectTargetPolicies(all, {
        kind: 'Service',
        name: t.service.name,
        namespace: t.service.namespace,
      }),
    );
  return out;
}

export function authorize(self: WaypointName): Layer {
  return (next) => (req) => {
    const policies = policiesFor(req.snapshot, req, self);
    if (policies.length > 0) {
      const q = req.path.indexOf('?');
      const decision = evaluateL7(policies, {
        sourceId: req.conn.peerId,
        sourceIp: req.conn.sourceIp,
        destinationIp: req.conn.target.ip,
        destinationPort: req.conn.target.port,
        method: req.method,
        path: q < 0 ? req.path : req.path.slice(0, q),
        host: req.authority,
        headers: req.headers,
      });
      if (!decision.allowed) throw new WaypointDeniedError(decision.reason);
    }
    return next(req);
  };
}
