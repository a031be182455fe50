// Lookup tables over one ClusterState, built once per translation so that every step is linear.

import type {
  ClusterState,
  EndpointSlice,
  KubeService,
  Meta,
  Namespace,
  Node,
  Waypoint,
} from './cluster-state.ts';
import { SERVICE_NAME_LABEL } from './names.ts';

export interface ClusterIndex {
  namespaces: ReadonlyMap<string, Namespace>;
  nodes: ReadonlyMap<string, Node>;
  /** By `namespace/name`. */
  services: ReadonlyMap<string, KubeService>;
  /** EndpointSlices by their Service's `namespace/name`. */
  slicesByService: ReadonlyMap<string, readonly EndpointSlice[]>;
  /** Waypoints by namespace. */
  waypointsByNamespace: ReadonlyMap<string, readonly Waypoint[]>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

export function labelsOf(o: { metadata?: Meta } | undefined): Readonly<Record<string, string>> {
  return o?.metadata?.labels ?? {};
}

export function buildClusterIndex(state: ClusterState): ClusterIndex {
  const namespaces = new Map<string, Namespace>();
  for (const ns of state.namespaces) {
    if (ns.metadata?.name !== undefined) namespaces.set(ns.metadata.name, ns);
  }
  const nodes = new Map<string, Node>();
  for (const n of state.nodes) if (n.metadata?.name !== undefined) nodes.set(n.metadata.name, n);
  const services = new Map<string, KubeService>();
  for (const s of state.services) {
    const m = s.metadata;
    if (m?.name !== undefined && m.namespace !== undefined)
      services.set(`${m.namespace}/${m.name}`, s);
  }
  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const es of state.endpointSlices) {
    const svc = labelsOf(es)[SERVICE_NAME_LABEL];
    if (svc !== undefined && es.metadata?.namespace !== undefined) {
      push(slicesByService, `${es.metadata.namespace}/${svc}`, es);
    }
  }
  const waypointsByNamespace = new Map<string, Waypoint[]>();
  for (const w of state.waypoints) {
    if (w.metadata?.name !== undefined && w.metadata.namespace !== undefined) {
      push(waypointsByNamespace, w.metadata.namespace, w);
    }
  }
  return { namespaces, nodes, services, slicesByService, waypointsByNamespace };
}
