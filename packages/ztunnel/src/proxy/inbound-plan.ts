// Decide, then do, for inbound connections: HBONE on :15008 (peer identity verified by TLS) and
// plaintext on :15006 (no identity; PERMISSIVE only). planInbound checks the target and applies
// mTLS mode and L4 authorization against one state snapshot; the executor then dials `dial` or
// answers `status`. Pure, table-tested in inbound-plan.test.ts.
//
// ztunnel never acts as a waypoint (waypoints are their own Deployment), so the only targets it
// accepts are mesh workloads on its own node; traffic a waypoint sends on arrives here like any
// other HBONE, with the waypoint's identity as peer.

import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import { canonicalIp, formatHostPort, type IpAddr } from '@ambit/core/mesh/ip';
import {
  mtlsModeFor,
  workloadIdentity,
  type MtlsMode,
  type Service,
  type Workload,
} from '@ambit/core/mesh/types';
import { evaluateL4 } from '@ambit/core/policy/evaluate';
import type { AuthorizationDecision } from '@ambit/core/policy/types';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import type { DialAddress } from './outbound-plan.ts';

export interface InboundConnection {
  /**
   * The workload whose listener accepted the connection (in-pod mode: the pod whose netns holds
   * the :15008/:15006 socket). undefined when one listener serves every local workload.
   */
  localWorkloadIp: IpAddr | undefined;
  /** HBONE: the parsed :authority; plaintext: the original destination. */
  target: { host: string; port: number };
  /** The verified peer identity (HBONE); undefined for plaintext. */
  peerId: SpiffeId | undefined;
  /** The client's IP for policy: the TCP peer (HBONE clients bind per source workload IP). */
  sourceIp: string;
}

export interface InboundOptions {
  nodeName: string;
  /** The HBONE port (default 15008); a target on it would loop back into ztunnel. */
  hbonePort?: number;
}

export interface AcceptInboundPlan {
  kind: 'accept';
  /** The local workload the connection is for. */
  workload: Workload;
  /** Its identity (the certificate our HBONE server presents for it; metrics: destination_principal). */
  workloadIdentity: SpiffeId;
  /** Where to connect inside the pod: its ip:port. */
  dial: DialAddress;
  /** The services the workload backs (metrics: destination_service). */
  services: readonly Service[];
  /** The effective mTLS mode of the workload's namespace. */
  mtlsMode: MtlsMode;
  /** Metrics label connection_security_policy. */
  connectionSecurityPolicy: 'mutual_tls' | 'none';
  /** The L4 authorization decision (allowed), with the AUDIT policies that matched. */
  decision: AuthorizationDecision;
}

export type InboundDenyCode =
  /** :authority is not ip:port of a workload (e.g. a hostname), or targets the HBONE port itself. */
  | 'BAD_TARGET'
  /** The target is not the workload whose listener accepted the connection. */
  | 'TARGET_MISMATCH'
  /** No workload has the target IP (or it is a service VIP, which senders must resolve). */
  | 'UNKNOWN_TARGET'
  /** The target workload runs on another node. */
  | 'TARGET_NOT_LOCAL'
  /** The target workload is not in the mesh (protocol TCP). */
  | 'TARGET_NOT_IN_MESH'
  /** Plaintext to a workload whose namespace is STRICT. */
  | 'PLAINTEXT_REFUSED'
  /** An authorization policy denies the connection. */
  | 'POLICY_DENIED';

export interface DenyInboundPlan {
  kind: 'deny';
  code: InboundDenyCode;
  /** The HBONE response status (400 bad target, 401 denied, 503 no such workload); plaintext just closes. */
  status: 400 | 401 | 503;
  /** For operators and the access log. */
  reason: string;
  /** The target workload, when it was found. */
  workload: Workload | undefined;
  /** The authorization decision, for POLICY_DENIED. */
  decision: AuthorizationDecision | undefined;
}

export type InboundPlan = AcceptInboundPlan | DenyInboundPlan;

export function planInbound(
  state: MeshSnapshot,
  conn: InboundConnection,
  opts: InboundOptions,
): InboundPlan {
  const target = formatHostPort(conn.target.host, conn.target.port);
  const deny = (
    code: InboundDenyCode,
    status: DenyInboundPlan['status'],
    reason: string,
    workload?: Workload,
    decision?: AuthorizationDecision,
  ): DenyInboundPlan => ({ kind: 'deny', code, status, reason, workload, decision });

  const ip = canonicalIp(conn.target.host);
  if (ip === undefined) return deny('BAD_TARGET', 400, `target ${target} is not ip:port`);
  if (conn.target.port === (opts.hbonePort ?? 15008)) {
    return deny('BAD_TARGET', 400, `target ${target} is the HBONE port itself (a loop)`);
  }
  const found = state.lookup(ip);
  if (found === undefined) return deny('UNKNOWN_TARGET', 503, `no workload has IP ${ip}`);
  if (found.kind === 'service') {
    return deny(
      'UNKNOWN_TARGET',
      503,
      `${ip} is the VIP of service ${found.service.namespace}/${found.service.name}; HBONE targets a pod IP`,
    );
  }
  const w = found.workload;
  if (
    conn.localWorkloadIp !== undefined &&
    !(w.ips as readonly string[]).includes(canonicalIp(conn.localWorkloadIp) ?? '')
  ) {
    return deny(
      'TARGET_MISMATCH',
      400,
      `target ${target} (${w.namespace}/${w.name}) is not the workload at ${conn.localWorkloadIp} that received the connection`,
      w,
    );
  }
  if (w.node !== opts.nodeName) {
    return deny(
      'TARGET_NOT_LOCAL',
      503,
      `workload ${w.namespace}/${w.name} runs on node ${w.node}, not ${opts.nodeName}`,
      w,
    );
  }
  if (w.protocol !== 'HBONE') {
    return deny(
      'TARGET_NOT_IN_MESH',
      503,
      `workload ${w.namespace}/${w.name} is not in the mesh (protocol ${w.protocol})`,
      w,
    );
  }
  const mtlsMode = mtlsModeFor(state.mesh, w.namespace);
  if (conn.peerId === undefined && mtlsMode === 'STRICT') {
    return deny(
      'PLAINTEXT_REFUSED',
      401,
      `plaintext connection to ${w.namespace}/${w.name} refused: namespace ${w.namespace} requires mTLS (STRICT); is the client in the mesh?`,
      w,
    );
  }
  const decision = evaluateL4(state.policiesFor(w), {
    sourceId: conn.peerId,
    sourceIp: conn.sourceIp,
    destinationIp: ip,
    destinationPort: conn.target.port,
  });
  if (!decision.allowed) {
    return deny(
      'POLICY_DENIED',
      401,
      `connection to ${w.namespace}/${w.name}:${conn.target.port} denied: ${decision.reason}`,
      w,
      decision,
    );
  }
  return {
    kind: 'accept',
    workload: w,
    workloadIdentity: workloadIdentity(w, state.mesh.trustDomain),
    dial: { host: ip, port: conn.target.port },
    services: state.servicesByWorkload.get(w.uid) ?? [],
    mtlsMode,
    connectionSecurityPolicy: conn.peerId === undefined ? 'none' : 'mutual_tls',
    decision,
  };
}
