// The mesh resources the config stream carries to data planes (DESIGN.md "Config stream"), as the
// domain code sees them: validated, IPs canonical and branded, identities parsed. The same shapes
// travel as JSON on the wire (brands are erased); packages/core/src/mesh/decode-resource.ts turns
// untrusted JSON into these.

import { formatSpiffeId, type SpiffeId } from '../identity/spiffe-id.ts';
import type { IpAddr, PodIp, ServiceVip } from './ip.ts';

/** A workload's unique id: a pod's metadata.uid in Kubernetes, any unique string in a local file. */
export type WorkloadUid = string & { readonly __brand: 'WorkloadUid' };
/** A service's key, `<namespace>/<name>`. */
export type ServiceKey = string & { readonly __brand: 'ServiceKey' };

/** How a workload accepts mesh traffic: HBONE on :15008 (enrolled in the mesh) or plain TCP (not). */
export type WorkloadProtocol = 'HBONE' | 'TCP';

/** Peer-authentication mode: PERMISSIVE accepts plaintext inbound as well as HBONE; STRICT only HBONE. */
export type MtlsMode = 'PERMISSIVE' | 'STRICT';

/** Topology of a node, as Kubernetes' topology.kubernetes.io/{region,zone} labels say. */
export interface Locality {
  region: string;
  zone: string;
}

/**
 * A reference to the waypoint that a service or workload uses. Traffic to the destination goes
 * over HBONE to the waypoint instead, with :authority = the original destination.
 */
export interface WaypointRef {
  /** The Waypoint resource's name and namespace. */
  name: string;
  namespace: string;
  /**
   * Where the waypoint is reached: the VIP of the waypoint's Service (resolved to one of its pods
   * like any service) or directly a waypoint pod's IP.
   */
  address: IpAddr;
  /** The waypoint's HBONE port, normally 15008. */
  hbonePort: number;
  /** The identity the waypoint presents; the HBONE client accepts no other. */
  identity: SpiffeId;
}

/** One workload (a pod) as data planes know it. */
export interface Workload {
  uid: WorkloadUid;
  name: string;
  namespace: string;
  serviceAccount: string;
  /** The node the workload runs on; ztunnel serves the workloads of its own node. */
  node: string;
  /** The workload's addresses (first one primary). */
  ips: readonly PodIp[];
  protocol: WorkloadProtocol;
  /** Set when the workload's traffic must go through a waypoint. */
  waypoint?: WaypointRef;
  /** The pod's labels (policy selectors, service selectors). */
  labels: Readonly<Record<string, string>>;
  /** Metric labels (Istio's standard names): `destination_workload` etc. */
  workloadName: string;
  /** `service.istio.io/canonical-name` (or app label, or workload name). */
  canonicalName: string;
  /** `service.istio.io/canonical-revision` (or version label, or "latest"). */
  canonicalRevision: string;
  locality?: Locality;
  /** Ready and healthy: only healthy workloads receive new service traffic. */
  healthy: boolean;
}

export interface ServicePort {
  /** The port clients dial on the VIP. */
  port: number;
  /** The port on the endpoint (pod) by default. */
  targetPort: number;
  name?: string;
  /** Kubernetes appProtocol, e.g. "http", "grpc" (a hint for waypoints). */
  appProtocol?: string;
}

export interface ServiceEndpoint {
  workloadUid: WorkloadUid;
  /** Per-endpoint overrides of the target port, keyed by service port (named targetPorts resolve per pod). */
  ports?: Readonly<Record<number, number>>;
}

export interface Service {
  name: string;
  namespace: string;
  /** e.g. `reviews.bookinfo.svc.cluster.local`. */
  hostname: string;
  vips: readonly ServiceVip[];
  ports: readonly ServicePort[];
  endpoints: readonly ServiceEndpoint[];
  waypoint?: WaypointRef;
}

/** Mesh-wide settings; there is one, keyed "mesh". */
export interface MeshConfig {
  trustDomain: string;
  /** The mesh-wide default mTLS mode. */
  mtlsMode: MtlsMode;
  /** Per-namespace overrides of the mTLS mode. */
  namespaceMtlsModes: Readonly<Record<string, MtlsMode>>;
  /** PEM bundle of trusted roots (may hold several during rotation); "" when not distributed this way. */
  rootsPem: string;
}

/** The single MeshConfig's key. */
export const MESH_CONFIG_KEY = 'mesh';

/** The key of a service in maps and in the stream's `removed` list. */
export function serviceKey(s: { namespace: string; name: string }): ServiceKey {
  return `${s.namespace}/${s.name}` as ServiceKey;
}

/** The SPIFFE identity a workload presents in mTLS. */
export function workloadIdentity(w: Workload, trustDomain: string): SpiffeId {
  return formatSpiffeId({ trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount });
}

/** The effective mTLS mode of a namespace. */
export function mtlsModeFor(mesh: MeshConfig, namespace: string): MtlsMode {
  return mesh.namespaceMtlsModes[namespace] ?? mesh.mtlsMode;
}

/** The mesh config a data plane assumes before it has been told anything. */
export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  trustDomain: 'cluster.local',
  mtlsMode: 'PERMISSIVE',
  namespaceMtlsModes: Object.freeze({}),
  rootsPem: '',
});
