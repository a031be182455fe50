// One immutable view of what the waypoint knows: the mesh (workloads, services, policies — built
// by the same code as ztunnel's, so both agree on every lookup) and the compiled route table.
// A request takes the snapshot current when it starts and keeps it to the end.

import type { Route } from '@ambit/core/mesh/route-types';
import {
  buildSnapshot,
  emptySnapshot,
  type MeshResources,
  type MeshSnapshot,
} from '@ambit/ztunnel/state/mesh-snapshot';
import { buildRouteTable, type RouteTable } from '../routing/route-table.ts';

export interface WaypointSnapshot {
  readonly generation: number;
  readonly mesh: MeshSnapshot;
  readonly routes: RouteTable;
}

export function buildWaypointSnapshot(
  resources: MeshResources,
  routes: readonly Route[],
  generation: number,
): WaypointSnapshot {
  return Object.freeze({
    generation,
    mesh: buildSnapshot(resources, generation),
    routes: buildRouteTable(routes),
  });
}

export function emptyWaypointSnapshot(): WaypointSnapshot {
  return Object.freeze({ generation: 0, mesh: emptySnapshot(), routes: buildRouteTable([]) });
}

export type { MeshResources } from '@ambit/ztunnel/state/mesh-snapshot';
