// What translation reads: plain Kubernetes objects as the informers (or a directory of YAML
// manifests, in file mode) hold them. Core kinds use @kubernetes/client-node's types; Ambit's own
// kinds and Gateway API's HTTPRoute (which the client does not generate) are typed here.

import type {
  V1EndpointSlice,
  V1Namespace,
  V1Node,
  V1ObjectMeta,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';

/** creationTimestamp and friends: a Date from the client, a string from a YAML file. */
export type KubeTime = Date | string;

/** Object metadata, as the client types it but with times that may be strings. */
export type Meta = Omit<V1ObjectMeta, 'creationTimestamp' | 'deletionTimestamp'> & {
  creationTimestamp?: KubeTime;
  deletionTimestamp?: KubeTime;
};

type WithMeta<T extends { metadata?: V1ObjectMeta }> = Omit<T, 'metadata'> & { metadata?: Meta };

export type Namespace = WithMeta<V1Namespace>;
export type Pod = WithMeta<V1Pod>;
export type KubeService = WithMeta<V1Service>;
export type EndpointSlice = WithMeta<V1EndpointSlice>;
export type Node = WithMeta<V1Node>;

/** `waypoints.ambit.dev` (crds/waypoints.ambit.dev.yaml). */
export interface Waypoint {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: {
    /** Which traffic goes through it: to Services (default), to workloads addressed directly, or both. */
    for?: 'service' | 'workload' | 'all';
    replicas?: number;
    resources?: unknown;
  };
  status?: unknown;
}

/** `authorizationpolicies.ambit.dev`: the spec is validated by core/policy/from-spec.ts. */
export interface AuthorizationPolicy {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: Record<string, unknown>;
  status?: unknown;
}

/** `peerauthentications.ambit.dev`. */
export interface PeerAuthentication {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: { mtls?: { mode?: string } };
  status?: unknown;
}

/** Gateway API (gateway.networking.k8s.io/v1) parent and backend references. */
export interface GatewayRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
  sectionName?: string;
  weight?: number;
}

export interface HttpRouteFilterSpec {
  type?: string;
  requestHeaderModifier?: HeaderModifierSpec;
  responseHeaderModifier?: HeaderModifierSpec;
  urlRewrite?: { hostname?: string; path?: PathModifierSpec };
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    path?: PathModifierSpec;
    port?: number;
    statusCode?: number;
  };
  requestMirror?: {
    backendRef?: GatewayRef;
    percent?: number;
    fraction?: { numerator?: number; denominator?: number };
  };
  [other: string]: unknown;
}

export interface HeaderModifierSpec {
  set?: { name?: string; value?: string }[];
  add?: { name?: string; value?: string }[];
  remove?: string[];
}

export interface PathModifierSpec {
  type?: string;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HttpRouteMatchSpec {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name?: string; value?: string }[];
  queryParams?: { type?: string; name?: string; value?: string }[];
  method?: string;
}

export interface HttpRouteRuleSpec {
  name?: string;
  matches?: HttpRouteMatchSpec[];
  filters?: HttpRouteFilterSpec[];
  backendRefs?: (GatewayRef & { filters?: HttpRouteFilterSpec[] })[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { attempts?: number; codes?: number[]; backoff?: string };
  [other: string]: unknown;
}

/** `httproutes.gateway.networking.k8s.io`, v1. */
export interface HttpRoute {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: {
    parentRefs?: GatewayRef[];
    hostnames?: string[];
    rules?: HttpRouteRuleSpec[];
  };
  status?: unknown;
}

/** Everything translation reads: the informers' caches, or a directory of manifests. */
export interface ClusterState {
  namespaces: readonly Namespace[];
  pods: readonly Pod[];
  services: readonly KubeService[];
  endpointSlices: readonly EndpointSlice[];
  nodes: readonly Node[];
  waypoints: readonly Waypoint[];
  authorizationPolicies: readonly AuthorizationPolicy[];
  peerAuthentications: readonly PeerAuthentication[];
  httpRoutes: readonly HttpRoute[];
}

export interface TranslateOptions {
  /** SPIFFE trust domain; default `cluster.local`. */
  trustDomain?: string;
  /** Kubernetes cluster DNS domain for service hostnames; default `cluster.local`. */
  clusterDomain?: string;
  /** PEM bundle of the mesh's roots, carried in MeshConfig; default "". */
  rootsPem?: string;
}

export function emptyClusterState(): ClusterState {
  return {
    namespaces: [],
    pods: [],
    services: [],
    endpointSlices: [],
    nodes: [],
    waypoints: [],
    authorizationPolicies: [],
    peerAuthentications: [],
    httpRoutes: [],
  };
}

/** Milliseconds since the epoch of a Kubernetes time; +Infinity when absent or unreadable (sorts last). */
export function kubeTimeMs(t: KubeTime | undefined): number {
  if (t === undefined) return Number.POSITIVE_INFINITY;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** RFC 3339 form of a Kubernetes time ("" when absent). */
export function kubeTimeString(t: KubeTime | undefined): string {
  if (t === undefined) return '';
  if (t instanceof Date)
    return Number.isNaN(t.getTime()) ? '' : t.toISOString().replace('.000Z', 'Z');
  return t;
}

/** `namespace/name` of any object. */
export function objectKey(o: { metadata?: Meta }): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}
