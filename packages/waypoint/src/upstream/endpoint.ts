// An upstream endpoint: one workload and the port its app listens on, and how to reach it —
// HBONE to its pod IP:15008 with the workload's identity as the only accepted peer (DESIGN.md
// "Data path": the destination ztunnel then sees the waypoint's identity), or plain TCP for a
// workload outside the mesh.

import {
  workloadIdentity,
  type Service,
  type ServiceEndpoint,
  type Workload,
} from '@ambit/core/mesh/types';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import { formatHostPort } from '@ambit/core/mesh/ip';

export const HBONE_PORT = 15008;

export interface Endpoint {
  /** `ip:port` of the app; the pool and balancer key, and HBONE's :authority. */
  key: string;
  workload: Workload;
  ip: string;
  port: number;
  /** HBONE: where the pod's ztunnel listens and whom we accept there. TCP: undefined. */
  hbone?: { address: { host: string; port: number }; expectedPeer: SpiffeId };
}

export function endpointFor(
  workload: Workload,
  port: number,
  trustDomain: string,
  hbonePort = HBONE_PORT,
): Endpoint {
  const ip = workload.ips[0] as string;
  const e: Endpoint = { key: formatHostPort(ip, port), workload, ip, port };
  if (workload.protocol === 'HBONE')
    e.hbone = {
      address: { host: ip, port: hbonePort },
      expectedPeer: workloadIdentity(workload, trustDomain),
    };
  return e;
}

/** The port on the endpoint for service port `servicePort` (per-endpoint override, else targetPort, else the port itself). */
export function targetPortOf(
  service: Service,
  endpoint: ServiceEndpoint | { ports: ServiceEndpoint['ports'] },
  servicePort: number,
): number {
  return (
    endpoint.ports?.[servicePort] ??
    service.ports.find((p) => p.port === servicePort)?.targetPort ??
    servicePort
  );
}
