// Shared by the two inbound executors (HBONE and plaintext): the ConnectionInfo a destination-side
// connection is reported with, and the response flags of an inbound refusal.

import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import { canonicalIp, type PodIp } from '@ambit/core/mesh/ip';
import { workloadIdentity, type Workload } from '@ambit/core/mesh/types';
import { RESPONSE_FLAGS } from '@ambit/core/metrics/istio-labels';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import type { ConnectionInfo } from '../telemetry/connection-telemetry.ts';
import type { InboundPlan } from './inbound-plan.ts';

/** Refused by policy or STRICT mode → DENY; no such target → CONNECT. */
export function inboundDenyFlags(code: string): string {
  return code === 'POLICY_DENIED' || code === 'PLAINTEXT_REFUSED'
    ? RESPONSE_FLAGS.authorizationPolicyDenied
    : RESPONSE_FLAGS.connectionFailure;
}

/** The source workload, when the mesh knows the client IP and (for mTLS) its identity matches the peer's. */
function sourceWorkload(
  snapshot: MeshSnapshot,
  ip: string,
  peerId: SpiffeId | undefined,
): Workload | undefined {
  const w = snapshot.workloadsByIp.get((canonicalIp(ip) ?? ip) as PodIp);
  if (w === undefined) return undefined;
  if (peerId !== undefined && workloadIdentity(w, snapshot.mesh.trustDomain) !== peerId)
    return undefined;
  return w;
}

export function inboundInfo(args: {
  snapshot: MeshSnapshot;
  plan: InboundPlan;
  source: { host: string; port: number };
  peerId: SpiffeId | undefined;
  target: { host: string; port: number };
}): ConnectionInfo {
  const { snapshot, plan, source, peerId } = args;
  const info: ConnectionInfo = {
    reporter: 'destination',
    sourceAddress: source,
    destinationAddress: plan.kind === 'accept' ? plan.dial : args.target,
    connectionSecurityPolicy: peerId === undefined ? 'none' : 'mutual_tls',
    protocol: peerId === undefined ? 'TCP' : 'HBONE',
  };
  const src = sourceWorkload(snapshot, source.host, peerId);
  if (src) info.source = src;
  if (peerId !== undefined) info.sourcePrincipal = peerId;
  const w = plan.workload;
  if (w) {
    info.destination = w;
    const svc = snapshot.servicesByWorkload.get(w.uid)?.[0];
    if (svc) info.destinationService = svc;
    // The identity ztunnel presented for it (plaintext: none was presented).
    if (peerId !== undefined)
      info.destinationPrincipal = workloadIdentity(w, snapshot.mesh.trustDomain);
  }
  return info;
}
