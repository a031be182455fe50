// Holds the current WaypointSnapshot and swaps in a new one per config update. Updates come from
// a ConfigSource (config stream or local file): each gives a type's complete set; a set that
// cannot be built into a snapshot (a conflict, a bad route) throws, and the source refuses it.

import type { Route } from '@ambit/core/mesh/route-types';
import type { AnyConfigUpdate } from '@ambit/core/mesh/config-source';
import { DEFAULT_MESH_CONFIG } from '@ambit/core/mesh/types';
import { decodeRoute } from './decode-route.ts';
import {
  buildWaypointSnapshot,
  emptyWaypointSnapshot,
  type MeshResources,
  type WaypointSnapshot,
} from './waypoint-snapshot.ts';

export class WaypointState {
  #snapshot: WaypointSnapshot = emptyWaypointSnapshot();
  #resources: MeshResources = {
    mesh: DEFAULT_MESH_CONFIG,
    workloads: [],
    services: [],
    policies: [],
  };
  #routes: readonly Route[] = [];
  readonly #listeners = new Set<(s: WaypointSnapshot) => void>();

  current(): WaypointSnapshot {
    return this.#snapshot;
  }

  /** Replaces everything (the local file). Throws (and changes nothing) if it does not build. */
  replace(resources: MeshResources, routes: readonly Route[]): WaypointSnapshot {
    return this.#swap(resources, routes);
  }

  /** Applies one type's complete set from the config stream. Throws to refuse it. */
  apply(update: AnyConfigUpdate): WaypointSnapshot {
    const r = this.#resources;
    switch (update.type) {
      case 'Workload':
        return this.#swap({ ...r, workloads: [...update.resources.values()] }, this.#routes);
      case 'Service':
        return this.#swap({ ...r, services: [...update.resources.values()] }, this.#routes);
      case 'Authorization':
        return this.#swap({ ...r, policies: [...update.resources.values()] }, this.#routes);
      case 'MeshConfig':
        return this.#swap(
          { ...r, mesh: [...update.resources.values()][0] ?? DEFAULT_MESH_CONFIG },
          this.#routes,
        );
      case 'Route':
        return this.#swap(
          r,
          [...update.resources.entries()].map(([key, v]) => decodeRoute(v, `Route ${key}`)),
        );
    }
  }

  /** Called with every new snapshot. */
  onChange(fn: (s: WaypointSnapshot) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #swap(resources: MeshResources, routes: readonly Route[]): WaypointSnapshot {
    const next = buildWaypointSnapshot(resources, routes, this.#snapshot.generation + 1);
    this.#resources = resources;
    this.#routes = routes;
    this.#snapshot = next;
    for (const fn of this.#listeners) fn(next);
    return next;
  }
}
