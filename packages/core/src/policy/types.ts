// The authorization domain model: what the controller derives from an `AuthorizationPolicy`, what
// the config stream carries (type `Authorization`), and what ztunnel (L4) and the waypoint (L7)
// evaluate. Plain JSON data on purpose: no classes, no compiled matchers, so it crosses the wire
// unchanged. docs/policy.md describes the semantics.

import type { SpiffeId } from '../identity/spiffe-id.ts';

/** The namespace whose policies without a selector apply to the whole mesh. */
export const SYSTEM_NAMESPACE = 'ambit-system';

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** A `targetRefs` entry. Policies with targetRefs are enforced by the waypoint, never by ztunnel. */
export interface AuthorizationTargetRef {
  kind: 'Service' | 'Waypoint';
  /** In the policy's own namespace. */
  name: string;
}

/** Which workloads a policy applies to. */
export type AuthorizationScope =
  /** Every workload in the policy's namespace (no selector). */
  | { kind: 'namespace' }
  /** Every workload in the mesh (policy in `ambit-system`, no selector). */
  | { kind: 'mesh' }
  /**
   * Workloads whose labels contain all of `matchLabels`: in the policy's namespace, or in every
   * namespace when `mesh` is true (a selector policy in `ambit-system`).
   */
  | { kind: 'selector'; matchLabels: Readonly<Record<string, string>>; mesh: boolean }
  /** Traffic through a Service's or Waypoint's waypoint; evaluated by the waypoint (L7). */
  | { kind: 'targetRefs'; targetRefs: readonly AuthorizationTargetRef[] };

/**
 * Who sends. Every set field must match (AND); inside a field any value may match (OR); a `not*`
 * field matches when no value matches. Absent or empty fields do not constrain.
 */
export interface AuthorizationSource {
  /** `<trust-domain>/ns/<ns>/sa/<sa>` (SPIFFE ID without `spiffe://`); `*`, `prefix*`, `*suffix`. */
  principals?: readonly string[];
  notPrincipals?: readonly string[];
  /** Source namespace taken from the peer identity; `*` prefix/suffix wildcards. */
  namespaces?: readonly string[];
  notNamespaces?: readonly string[];
  /** `<namespace>/<service-account>` from the peer identity, exact (any trust domain). */
  serviceAccounts?: readonly string[];
  notServiceAccounts?: readonly string[];
  /** Normalized CIDRs, IPv4 or IPv6 (`10.0.0.0/8`, `2001:db8::/32`; single IPs get /32 or /128). */
  ipBlocks?: readonly string[];
  notIpBlocks?: readonly string[];
}

/** What is asked for. Same AND/OR/not rules as AuthorizationSource. */
export interface AuthorizationOperation {
  /** Destination (target) ports, 1–65535. L4. */
  ports?: readonly number[];
  notPorts?: readonly number[];
  /** L7: HTTP methods, exact or `*` wildcards. */
  methods?: readonly string[];
  notMethods?: readonly string[];
  /** L7: request path without query; exact, `prefix*`, `*suffix` or `*`. */
  paths?: readonly string[];
  notPaths?: readonly string[];
  /** L7: Host / :authority, case-insensitive, `*` prefix/suffix wildcards, port optional. */
  hosts?: readonly string[];
  notHosts?: readonly string[];
}

/**
 * A `when` condition. Supported keys (see docs/policy.md):
 * L4 — `source.ip`, `source.namespace`, `source.principal`, `destination.ip`, `destination.port`;
 * L7 — `request.headers[<name>]`, `request.auth.principal`, `request.auth.audiences`,
 * `request.auth.presenter`, `request.auth.claims[<name>]`.
 * At least one of values/notValues is set; both must hold when both are set.
 */
export interface AuthorizationCondition {
  key: string;
  values?: readonly string[];
  notValues?: readonly string[];
}

/**
 * One rule: from AND to AND when. `from` entries are ORed, `to` entries are ORed, `when`
 * conditions are ANDed. Empty lists do not constrain, so a rule `{}` matches every request.
 */
export interface AuthorizationRule {
  from?: readonly AuthorizationSource[];
  to?: readonly AuthorizationOperation[];
  when?: readonly AuthorizationCondition[];
}

/** One AuthorizationPolicy, validated and normalized (see from-spec.ts). */
export interface Authorization {
  name: string;
  namespace: string;
  scope: AuthorizationScope;
  action: AuthorizationAction;
  /** ORed. An empty list matches nothing: an ALLOW policy with no rules denies everything. */
  rules: readonly AuthorizationRule[];
}

/** The destination workload policies are selected for (ztunnel side). */
export interface PolicyWorkload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/** One connection as ztunnel sees it at the destination. */
export interface L4Request {
  /** Verified peer identity; undefined for plaintext (PERMISSIVE) connections. */
  sourceId: SpiffeId | undefined;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

/** One HTTP request as the waypoint sees it. */
export interface L7Request extends L4Request {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Host header or :authority, may carry a port. */
  host: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Validated request credential (JWT), when the waypoint has one. */
  auth?: {
    principal?: string;
    audiences?: readonly string[];
    presenter?: string;
    claims?: Readonly<Record<string, string | readonly string[]>>;
  };
}

/** The outcome of evaluating the applicable policies for one request. */
export interface AuthorizationDecision {
  allowed: boolean;
  /** Human readable; names the deciding policy (`ns/name`) when there is one. */
  reason: string;
  /** `ns/name` of the deciding policy, if any. */
  policy?: string;
  /** `ns/name` of every AUDIT policy that matched (only logged). */
  audit?: string[];
}
