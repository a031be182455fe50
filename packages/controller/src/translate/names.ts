// Labels, annotations and derived names the translation reads. Each is a contract with another
// component (node agent, Waypoint reconciler, users) and is documented in docs/controller.md.

/** Namespace label (and pod label or annotation) selecting the data-plane mode: `ambient` or `none`. */
export const DATAPLANE_MODE_LABEL = 'ambit.dev/dataplane-mode';

/**
 * Pod annotation the node agent writes once the pod's traffic is captured and ztunnel serves it:
 * `<node name>/<RFC 3339 time>`. Only a pod that carries it (for its own node) is sent as HBONE.
 */
export const ENROLLED_ANNOTATION = 'ambit.dev/enrolled';

/** Label on a Namespace, Service or Pod naming the Waypoint (same namespace) to use; `none` opts out. */
export const USE_WAYPOINT_LABEL = 'ambit.dev/use-waypoint';

/**
 * Label the Waypoint reconciler puts on the waypoint's own Service and pods (value: the Waypoint's
 * name). They never use a waypoint themselves, and the Service carrying it gives the waypoint's address.
 */
export const WAYPOINT_LABEL = 'ambit.dev/waypoint';

/** EndpointSlice label naming its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Node labels giving a workload's locality. */
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** The system namespace: PeerAuthentication here is the mesh default. */
export const SYSTEM_NAMESPACE = 'ambit-system';

/** The waypoint's HBONE port. */
export const WAYPOINT_HBONE_PORT = 15008;

/**
 * The objects the reconciler creates for a Waypoint. All carry the Waypoint's name: the
 * ServiceAccount's name is what the waypoint's SPIFFE identity names.
 */
export function waypointObjectNames(waypointName: string): {
  serviceAccount: string;
  deployment: string;
  service: string;
} {
  return { serviceAccount: waypointName, deployment: waypointName, service: waypointName };
}
