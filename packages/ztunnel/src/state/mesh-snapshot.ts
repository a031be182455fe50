// One immutable view of everything ztunnel knows about the mesh, with the indexes the data path
// looks things up by. A new snapshot is built for every update and swapped in whole (mesh-state.ts),
// so a connection plans against one consistent view, never half an update.

import { MeshStateConflictError } from '@ambit/core/errors';
import { selectPolicies } from '@ambit/core/policy/evaluate';
import { SYSTEM_NAMESPACE, type Authorization } from '@ambit/core/policy/types';
import type { IpAddr, PodIp, ServiceVip } from '@ambit/core/mesh/ip';
import {
  DEFAULT_MESH_CONFIG,
  serviceKey,
  type MeshConfig,
  type Service,
  type ServiceKey,
  type Workload,
  type WorkloadUid,
} from '@ambit/core/mesh/types';

/** The resources a snapshot is built from: what a full config (a local file, or all types of the stream) holds. */
export interface MeshResources {
  mesh: MeshConfig;
  workloads: readonly Workload[];
  services: readonly Service[];
  policies: readonly Authorization[];
}

/** A service endpoint resolved to its workload. */
export interface ResolvedEndpoint {
  workload: Workload;
  /** Per-endpoint target-port overrides, keyed by service port. */
  ports: Readonly<Record<number, number>> | undefined;
}

/** What an IP is, as far as the mesh knows. */
export type AddressLookup =
  | { kind: 'service'; service: Service; vip: ServiceVip }
  | { kind: 'workload'; workload: Workload; ip: PodIp }
  | undefined;

export interface MeshSnapshot {
  /** Increases by one with every update; shown in /config_dump and logs. */
  readonly generation: number;
  readonly mesh: MeshConfig;
  readonly workloads: ReadonlyMap<WorkloadUid, Workload>;
  readonly workloadsByIp: ReadonlyMap<PodIp, Workload>;
  /** Workloads by node name: a ztunnel's own are `workloadsByNode.get(nodeName)`. */
  readonly workloadsByNode: ReadonlyMap<string, readonly Workload[]>;
  readonly services: ReadonlyMap<ServiceKey, Service>;
  readonly servicesByVip: ReadonlyMap<ServiceVip, Service>;
  readonly servicesByHostname: ReadonlyMap<string, Service>;
  /** The services each workload is an endpoint of (metrics: destination_service). */
  readonly servicesByWorkload: ReadonlyMap<WorkloadUid, readonly Service[]>;
  /** Every service's endpoints whose workload is known (unknown uids are left out until their workload arrives). */
  readonly endpoints: ReadonlyMap<ServiceKey, readonly ResolvedEndpoint[]>;
  /** Policies by `namespace/name`. */
  readonly policies: ReadonlyMap<string, Authorization>;
  /** Policies by their namespace. */
  readonly policiesByNamespace: ReadonlyMap<string, readonly Authorization[]>;
  /** A service VIP or a workload IP; services win if both claim one (they cannot: buildSnapshot refuses). */
  lookup(ip: IpAddr | string): AddressLookup;
  /** The policies ztunnel enforces for a destination workload (its namespace's and the mesh-wide ones). */
  policiesFor(workload: Workload): Authorization[];
  /** The resources this snapshot was built from (for delta updates and /config_dump). */
  readonly resources: MeshResources;
}

function conflict(message: string): never {
  throw new MeshStateConflictError(message);
}

/**
 * Builds and indexes a snapshot. Throws MeshStateConflictError (AMBIT_MESH_STATE_CONFLICT) when
 * two workloads share a uid or an IP, two services a key, VIP or hostname, or a VIP is also a
 * workload IP, so that every lookup has one answer.
 */
export function buildSnapshot(resources: MeshResources, generation: number): MeshSnapshot {
  const workloads = new Map<WorkloadUid, Workload>();
  const workloadsByIp = new Map<PodIp, Workload>();
  const workloadsByNode = new Map<string, Workload[]>();
  for (const w of resources.workloads) {
    const other = workloads.get(w.uid);
    if (other !== undefined) conflict(`workloads ${show(other)} and ${show(w)} share uid ${w.uid}`);
    workloads.set(w.uid, w);
    const onNode = workloadsByNode.get(w.node) ?? [];
    onNode.push(w);
    workloadsByNode.set(w.node, onNode);
    for (const ip of w.ips) {
      const owner = workloadsByIp.get(ip);
      if (owner !== undefined && owner !== w)
        conflict(`workloads ${show(owner)} and ${show(w)} both claim IP ${ip}`);
      workloadsByIp.set(ip, w);
    }
  }

  const services = new Map<ServiceKey, Service>();
  const servicesByVip = new Map<ServiceVip, Service>();
  const servicesByHostname = new Map<string, Service>();
  const servicesByWorkload = new Map<WorkloadUid, Service[]>();
  const endpoints = new Map<ServiceKey, ResolvedEndpoint[]>();
  for (const s of resources.services) {
    const key = serviceKey(s);
    if (services.has(key)) conflict(`service ${key} is defined twice`);
    services.set(key, s);
    for (const vip of s.vips) {
      const owner = servicesByVip.get(vip);
      if (owner !== undefined && owner !== s)
        conflict(`services ${serviceKey(owner)} and ${key} both claim VIP ${vip}`);
      const w = workloadsByIp.get(vip as string as PodIp);
      if (w !== undefined)
        conflict(`VIP ${vip} of service ${key} is also the IP of workload ${show(w)}`);
      servicesByVip.set(vip, s);
    }
    const sameHost = servicesByHostname.get(s.hostname);
    if (sameHost !== undefined)
      conflict(`services ${serviceKey(sameHost)} and ${key} share hostname ${s.hostname}`);
    servicesByHostname.set(s.hostname, s);
    const resolved: ResolvedEndpoint[] = [];
    for (const e of s.endpoints) {
      const w = workloads.get(e.workloadUid);
      if (w === undefined) continue;
      resolved.push({ workload: w, ports: e.ports });
      const list = servicesByWorkload.get(w.uid) ?? [];
      list.push(s);
      servicesByWorkload.set(w.uid, list);
    }
    endpoints.set(key, resolved);
  }

  const policies = new Map<string, Authorization>();
  const policiesByNamespace = new Map<string, Authorization[]>();
  for (const p of resources.policies) {
    const key = `${p.namespace}/${p.name}`;
    if (policies.has(key)) conflict(`authorization policy ${key} is defined twice`);
    policies.set(key, p);
    const list = policiesByNamespace.get(p.namespace) ?? [];
    list.push(p);
    policiesByNamespace.set(p.namespace, list);
  }

  const snapshot: MeshSnapshot = {
    generation,
    mesh: resources.mesh,
    workloads,
    workloadsByIp,
    workloadsByNode,
    services,
    servicesByVip,
    servicesByHostname,
    servicesByWorkload,
    endpoints,
    policies,
    policiesByNamespace,
    resources,
    lookup(ip) {
      const service = servicesByVip.get(ip as ServiceVip);
      if (service !== undefined) return { kind: 'service', service, vip: ip as ServiceVip };
      const workload = workloadsByIp.get(ip as PodIp);
      if (workload !== undefined) return { kind: 'workload', workload, ip: ip as PodIp };
      return undefined;
    },
    policiesFor(workload) {
      const candidates = [
        ...(policiesByNamespace.get(workload.namespace) ?? []),
        ...(workload.namespace === SYSTEM_NAMESPACE
          ? []
          : (policiesByNamespace.get(SYSTEM_NAMESPACE) ?? [])),
      ];
      return selectPolicies(candidates, workload);
    },
  };
  return Object.freeze(snapshot);
}

/** The snapshot before any config arrived: no workloads, default mesh settings. */
export function emptySnapshot(): MeshSnapshot {
  return buildSnapshot({ mesh: DEFAULT_MESH_CONFIG, workloads: [], services: [], policies: [] }, 0);
}

function show(w: Workload): string {
  return `${w.namespace}/${w.name}`;
}
