// Decide, then do: the pure routing decision for one outbound connection (DESIGN.md "Data path").
// planOutbound looks only at the state snapshot and its arguments and returns a plan whose every
// field is commented; the executor (outbound.ts) carries it out over sockets. No I/O here, so the
// table tests in outbound-plan.test.ts cover every rule without opening a socket.
//
// The rules, in order:
//  1. The source must be a mesh workload on this node (ztunnel speaks only for its own pods).
//  2. Original destination a service VIP → the port must be a service port; unless the source is
//     the service's waypoint, a service with a waypoint goes to the waypoint (:authority VIP:port);
//     else pick an endpoint: healthy only, locality first (same node, zone, region), then the less
//     loaded of two random picks; service port → targetPort (per-endpoint overrides win).
//  3. Original destination a workload IP → its waypoint if it has one (:authority ip:port).
//  4. The chosen workload speaks HBONE → HBONE to its IP:15008, :authority its ip:port, expecting
//     its identity; it speaks plain TCP → passthrough to ip:port.
//  5. Anything else (not a mesh address) → passthrough to the original destination.

import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import { formatHostPort, type IpAddr } from '@ambit/core/mesh/ip';
import {
  serviceKey,
  workloadIdentity,
  type Service,
  type WaypointRef,
  type Workload,
} from '@ambit/core/mesh/types';
import type { MeshSnapshot, ResolvedEndpoint } from '../state/mesh-snapshot.ts';
import { pickEndpoint, type PickOptions } from './pick-endpoint.ts';

/** An address to open a TCP connection to (the shape HbonePool and net.connect take). */
export interface DialAddress {
  host: string;
  port: number;
}

export interface OutboundConnection {
  /** The workload the connection comes from: the captured pod, or the SOCKS5/CONNECT client found by its IP. */
  source: Workload;
  /** Where the application wanted to go: SO_ORIGINAL_DST, or the SOCKS5/CONNECT target. */
  destination: { ip: IpAddr; port: number };
}

export interface OutboundOptions extends PickOptions {
  /** This ztunnel's node. */
  nodeName: string;
  /** The HBONE port on workload IPs (default 15008). */
  hbonePort?: number;
}

interface PlanBase {
  /** The source workload, as given. */
  source: Workload;
  /** The original destination, as given. */
  original: { ip: IpAddr; port: number };
  /** The service whose VIP was dialed, if it was one (metrics: destination_service). */
  service: Service | undefined;
}

/** Tunnel the connection over HBONE (mTLS + HTTP/2 CONNECT). */
export interface HboneOutboundPlan extends PlanBase {
  kind: 'hbone';
  /** The identity to present (client certificate): the source workload's. */
  sourceIdentity: SpiffeId;
  /** Where to open the HBONE connection: the destination pod's IP:15008, or the waypoint's address. */
  hboneAddress: DialAddress;
  /** The CONNECT :authority: the endpoint's ip:targetPort, or via a waypoint the original destination. */
  authority: string;
  /** Where the bytes finally go: the endpoint's ip:targetPort; via a waypoint, the original destination (the waypoint picks the endpoint). */
  destination: DialAddress;
  /** The server must present one of these identities (URI SAN): the endpoint's or the waypoint's. */
  expectedPeers: readonly SpiffeId[];
  /** The destination workload chosen, when ztunnel chose it (not when a waypoint will). */
  endpoint: Workload | undefined;
  /** The waypoint the connection goes through, if any. */
  waypoint: WaypointRef | undefined;
  /** The waypoint pod picked when the waypoint's address is a service VIP. */
  waypointEndpoint: Workload | undefined;
}

/** Plain TCP to the destination (it is not in the mesh), from inside the source pod. */
export interface PassthroughOutboundPlan extends PlanBase {
  kind: 'passthrough';
  /** Where to connect: the non-mesh endpoint's ip:targetPort, or the original destination. */
  destination: DialAddress;
  /** The destination workload, if the mesh knows it (a workload that speaks plain TCP). */
  endpoint: Workload | undefined;
  /** Why not HBONE, for the access log. */
  reason: string;
}

export type OutboundDenyCode =
  /** The source workload is on another node: this ztunnel must not use its identity. */
  | 'SOURCE_NOT_LOCAL'
  /** The source workload is not enrolled in the mesh (protocol TCP). */
  | 'SOURCE_NOT_IN_MESH'
  /** A service VIP was dialed on a port the service does not have. */
  | 'NO_SERVICE_PORT'
  /** The service has no healthy endpoint. */
  | 'NO_HEALTHY_ENDPOINT'
  /** The destination's waypoint has no healthy pod. */
  | 'NO_HEALTHY_WAYPOINT';

/** Refuse the connection (close it; the access log gets `reason`). */
export interface DenyOutboundPlan extends PlanBase {
  kind: 'deny';
  code: OutboundDenyCode;
  /** For operators: what is wrong and where to look. */
  reason: string;
}

export type OutboundPlan = HboneOutboundPlan | PassthroughOutboundPlan | DenyOutboundPlan;

/** Decides how to carry one outbound connection. Pure: same snapshot and arguments, same plan. */
export function planOutbound(
  state: MeshSnapshot,
  conn: OutboundConnection,
  opts: OutboundOptions,
): OutboundPlan {
  const { source, destination } = conn;
  const hbonePort = opts.hbonePort ?? 15008;
  const base = { source, original: destination, service: undefined as Service | undefined };
  const deny = (code: OutboundDenyCode, reason: string): DenyOutboundPlan => ({
    ...base,
    kind: 'deny',
    code,
    reason,
  });
  const dest = formatHostPort(destination.ip, destination.port);

  if (source.node !== opts.nodeName) {
    return deny(
      'SOURCE_NOT_LOCAL',
      `source workload ${name(source)} runs on node ${source.node}, not on this ztunnel's node ${opts.nodeName}`,
    );
  }
  if (source.protocol !== 'HBONE') {
    return deny(
      'SOURCE_NOT_IN_MESH',
      `source workload ${name(source)} is not in the mesh (protocol ${source.protocol})`,
    );
  }
  const sourceIdentity = workloadIdentity(source, state.mesh.trustDomain);

  /** HBONE via a waypoint, or a deny when none of its pods is healthy. */
  const viaWaypoint = (wp: WaypointRef): HboneOutboundPlan | DenyOutboundPlan => {
    let host: string = wp.address;
    let waypointEndpoint: Workload | undefined;
    const found = state.lookup(wp.address);
    if (found?.kind === 'service') {
      const chosen = pickEndpoint(healthy(state, found.service), source, opts);
      if (chosen === undefined) {
        return deny(
          'NO_HEALTHY_WAYPOINT',
          `waypoint ${wp.namespace}/${wp.name} (service ${found.service.namespace}/${found.service.name}) has no healthy pod; ${dest} goes through it`,
        );
      }
      waypointEndpoint = chosen.workload;
      host = ipFor(chosen.workload, wp.address);
    }
    return {
      ...base,
      kind: 'hbone',
      sourceIdentity,
      hboneAddress: { host, port: wp.hbonePort },
      authority: dest,
      destination: { host: destination.ip, port: destination.port },
      expectedPeers: [wp.identity],
      endpoint: undefined,
      waypoint: wp,
      waypointEndpoint,
    };
  };

  /** HBONE or passthrough straight to a workload. */
  const direct = (
    w: Workload,
    ip: string,
    port: number,
  ): HboneOutboundPlan | PassthroughOutboundPlan => {
    if (w.protocol !== 'HBONE') {
      return {
        ...base,
        kind: 'passthrough',
        destination: { host: ip, port },
        endpoint: w,
        reason: `destination workload ${name(w)} is not in the mesh (protocol ${w.protocol})`,
      };
    }
    return {
      ...base,
      kind: 'hbone',
      sourceIdentity,
      hboneAddress: { host: ip, port: hbonePort },
      authority: formatHostPort(ip, port),
      destination: { host: ip, port },
      expectedPeers: [workloadIdentity(w, state.mesh.trustDomain)],
      endpoint: w,
      waypoint: undefined,
      waypointEndpoint: undefined,
    };
  };

  const found = state.lookup(destination.ip);
  if (found === undefined) {
    return {
      ...base,
      kind: 'passthrough',
      destination: { host: destination.ip, port: destination.port },
      endpoint: undefined,
      reason: `${destination.ip} is not a mesh address`,
    };
  }

  if (found.kind === 'workload') {
    const w = found.workload;
    if (w.waypoint !== undefined && w.waypoint.identity !== sourceIdentity)
      return viaWaypoint(w.waypoint);
    return direct(w, destination.ip, destination.port);
  }

  const svc = found.service;
  base.service = svc;
  const svcPort = svc.ports.find((p) => p.port === destination.port);
  if (svcPort === undefined) {
    return deny(
      'NO_SERVICE_PORT',
      `service ${svc.namespace}/${svc.name} has no port ${destination.port} (ports: ${svc.ports.map((p) => p.port).join(', ')})`,
    );
  }
  if (svc.waypoint !== undefined && svc.waypoint.identity !== sourceIdentity)
    return viaWaypoint(svc.waypoint);

  const all = state.endpoints.get(serviceKey(svc)) ?? [];
  const chosen = pickEndpoint(healthy(state, svc), source, opts);
  if (chosen === undefined) {
    const detail =
      all.length === 0 ? 'it has no endpoints' : `none of its ${all.length} endpoints is healthy`;
    return deny('NO_HEALTHY_ENDPOINT', `service ${svc.namespace}/${svc.name} (${dest}): ${detail}`);
  }
  const targetPort = chosen.ports?.[svcPort.port] ?? svcPort.targetPort;
  return direct(chosen.workload, ipFor(chosen.workload, destination.ip), targetPort);
}

function healthy(state: MeshSnapshot, svc: Service): ResolvedEndpoint[] {
  return (state.endpoints.get(serviceKey(svc)) ?? []).filter((e) => e.workload.healthy);
}

/** The workload's IP of the same family as `like` (IPv4/IPv6), else its first. */
function ipFor(w: Workload, like: string): string {
  const v6 = like.includes(':');
  return w.ips.find((ip) => ip.includes(':') === v6) ?? w.ips[0] ?? '';
}

function name(w: Workload): string {
  return `${w.namespace}/${w.name}`;
}
