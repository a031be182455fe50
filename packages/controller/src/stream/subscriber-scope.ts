// Who a config-stream subscriber is, and which resources it receives (docs/controller.md, "Config
// stream server"). Pure functions, table-tested.
//
// Scoping is a predicate on one resource and the subscriber's identity, never on other resources:
// a subscriber's view then changes only when the resource itself changes, so a delta never has to
// be recomputed because some other type moved, and there is no window in which one type's update
// has arrived and the other's, that it depends on, has not.
//
// - ztunnel: every Workload and Service (it plans outbound connections to any destination in the
//   cluster: mesh or not, waypoint or not, identity to expect), the MeshConfig, and the
//   Authorizations it enforces: all but those with targetRefs (enforced by waypoints). Not filtered
//   by "namespaces with a workload on this node": a pod arriving on the node would then need its
//   namespace's policies before the Workload itself, and a DENY policy missing for even a moment
//   is an open door. No Routes (it never looks inside HTTP).
// - waypoint: every Workload and Service (backends may be in any namespace), the MeshConfig, every
//   Route (a route's parentRefs may name a Service in another namespace), and the Authorizations of
//   its own namespace and of the system namespace (mesh-wide policies).

import type { ResourceType } from '@ambit/core/mesh/stream-protocol';
import type { SubscribeMessage } from '@ambit/core/mesh/stream-protocol';
import { SYSTEM_NAMESPACE, type Authorization } from '@ambit/core/policy/types';

/** The caller of the stream, as the authenticator (TokenReview) established it. */
export type SubscriberIdentity =
  { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; namespace: string; name: string };

/** A readable name for logs and /debug: `ztunnel/node-a`, `waypoint/shop/waypoint`. */
export function describeSubscriber(id: SubscriberIdentity): string {
  return id.kind === 'ztunnel' ? `ztunnel/${id.node}` : `waypoint/${id.namespace}/${id.name}`;
}

/** Whether a resource of `type` belongs in this subscriber's view. */
export type ScopePredicate = (type: ResourceType, resource: unknown) => boolean;

export function scopeFor(id: SubscriberIdentity): ScopePredicate {
  switch (id.kind) {
    case 'ztunnel':
      return (type, resource) => {
        switch (type) {
          case 'Workload':
          case 'Service':
          case 'MeshConfig':
            return true;
          case 'Authorization':
            return (resource as Authorization).scope.kind !== 'targetRefs';
          case 'Route':
            return false;
        }
      };
    case 'waypoint':
      return (type, resource) => {
        switch (type) {
          case 'Workload':
          case 'Service':
          case 'MeshConfig':
          case 'Route':
            return true;
          case 'Authorization': {
            const ns = (resource as Authorization).namespace;
            return ns === id.namespace || ns === SYSTEM_NAMESPACE;
          }
        }
      };
  }
}

/**
 * Checks a subscribe against the caller's identity: a ztunnel must name its own node, a waypoint
 * its own name. Returns the reason to refuse (403), or undefined.
 */
export function subscribeMismatch(
  id: SubscriberIdentity,
  sub: SubscribeMessage,
): string | undefined {
  const own = id.kind === 'ztunnel' ? id.node : id.name;
  if (sub.node !== own) {
    return `${describeSubscriber(id)} may only subscribe as ${JSON.stringify(own)}, not ${JSON.stringify(sub.node)}`;
  }
  return undefined;
}
