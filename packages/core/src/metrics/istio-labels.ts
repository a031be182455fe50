// Istio's standard metric labels (https://istio.io/latest/docs/reference/config/metrics/), with the
// label set istio/ztunnel uses for its TCP metrics, so Istio's Grafana dashboards, Kiali and
// Flagger queries work unchanged. Every value comes from workload/service metadata or identities
// (bounded by the size of the mesh), never from IPs or ports; absent values are "unknown".

import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { Service, Workload } from '../mesh/types.ts';

/** The value of a label Ambit does not know (Istio's convention). */
export const UNKNOWN = 'unknown';

/**
 * `response_flags` values. "-" means nothing went wrong; the others are the ones istio/ztunnel
 * reports (a connection denied by policy, an upstream that could not be reached). The waypoint
 * adds Envoy-style flags for HTTP (e.g. "UF", "UT", "NR") when it reports requests.
 */
export const RESPONSE_FLAGS = Object.freeze({
  none: '-',
  /** Denied by an AuthorizationPolicy (or by STRICT mTLS refusing plaintext). */
  authorizationPolicyDenied: 'DENY',
  /** The upstream (workload, waypoint, HBONE peer) could not be connected. */
  connectionFailure: 'CONNECT',
});

/** The labels of `istio_tcp_*` metrics, in exposition order. */
export const TCP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export type TcpLabelName = (typeof TCP_LABEL_NAMES)[number];
export type TcpLabels = Readonly<Record<TcpLabelName, string>>;

/** The labels of `istio_requests_total` and `istio_request_duration_milliseconds` (waypoint). */
export const REQUEST_LABEL_NAMES = [
  ...TCP_LABEL_NAMES.filter((n) => n !== 'response_flags' && n !== 'connection_security_policy'),
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type RequestLabelName = (typeof REQUEST_LABEL_NAMES)[number];
export type RequestLabels = Readonly<Record<RequestLabelName, string>>;

/** What the traffic labels are derived from; every field but the reporter may be absent. */
export interface TrafficLabelInput {
  reporter: 'source' | 'destination';
  source?: Workload | undefined;
  /** The source's identity as proven by mTLS (or our own, when we are the source). */
  sourcePrincipal?: SpiffeId | undefined;
  destination?: Workload | undefined;
  destinationService?: Service | undefined;
  destinationPrincipal?: SpiffeId | undefined;
  /** "tcp" for ztunnel; "http" or "grpc" for waypoint requests. */
  requestProtocol: 'tcp' | 'http' | 'grpc';
  /** A RESPONSE_FLAGS value, or several joined by ",". */
  responseFlags: string;
  /** "mutual_tls" when the hop was HBONE; "none" for plaintext. */
  connectionSecurityPolicy: 'mutual_tls' | 'none';
  /** Multi-cluster is out of scope for now: defaults to "unknown". */
  cluster?: string;
}

function orUnknown(v: string | undefined): string {
  return v === undefined || v === '' ? UNKNOWN : v;
}

/** Builds the `istio_tcp_*` label set. */
export function tcpLabels(i: TrafficLabelInput): TcpLabels {
  const src = i.source;
  const dst = i.destination;
  const svc = i.destinationService;
  const cluster = orUnknown(i.cluster);
  return {
    reporter: i.reporter,
    source_workload: orUnknown(src?.workloadName),
    source_canonical_service: orUnknown(src?.canonicalName),
    source_canonical_revision: orUnknown(src?.canonicalRevision),
    source_workload_namespace: orUnknown(src?.namespace),
    source_principal: orUnknown(i.sourcePrincipal),
    source_app: orUnknown(src?.canonicalName),
    source_version: orUnknown(src?.canonicalRevision),
    source_cluster: src ? cluster : UNKNOWN,
    destination_service: orUnknown(svc?.hostname),
    destination_service_namespace: orUnknown(svc?.namespace),
    destination_service_name: orUnknown(svc?.name),
    destination_workload: orUnknown(dst?.workloadName),
    destination_canonical_service: orUnknown(dst?.canonicalName),
    destination_canonical_revision: orUnknown(dst?.canonicalRevision),
    destination_workload_namespace: orUnknown(dst?.namespace),
    destination_principal: orUnknown(i.destinationPrincipal),
    destination_app: orUnknown(dst?.canonicalName),
    destination_version: orUnknown(dst?.canonicalRevision),
    destination_cluster: dst ? cluster : UNKNOWN,
    request_protocol: i.requestProtocol,
    response_flags: i.responseFlags === '' ? RESPONSE_FLAGS.none : i.responseFlags,
    connection_security_policy: i.connectionSecurityPolicy,
  };
}

/** Builds the `istio_requests_total` / `istio_request_duration_milliseconds` label set. */
export function requestLabels(
  i: TrafficLabelInput & { responseCode: number; grpcStatus?: number },
): RequestLabels {
  return {
    ...tcpLabels(i),
    response_code: String(i.responseCode),
    grpc_response_status: i.grpcStatus === undefined ? '' : String(i.grpcStatus),
  };
}
