// The state store: holds the current MeshSnapshot and swaps it atomically on each update, either a
// whole new config (local file) or one resource type's snapshot or delta from the config stream.
// An update that does not validate is refused whole and the previous snapshot stays.

import { MeshStateConflictError } from '@ambit/core/errors';
import { DEFAULT_MESH_CONFIG, MESH_CONFIG_KEY, serviceKey } from '@ambit/core/mesh/types';
import type { MeshConfig, Service, Workload } from '@ambit/core/mesh/types';
import type { ServerMessage } from '@ambit/core/mesh/stream-protocol';
import type { Authorization } from '@ambit/core/policy/types';
import {
  buildSnapshot,
  emptySnapshot,
  type MeshResources,
  type MeshSnapshot,
} from './mesh-snapshot.ts';

interface TypedUpdate<T extends string, R> {
  type: T;
  /** true: `resources` is the complete set of this type (the first message on a stream); false: a delta. */
  full: boolean;
  /** Added or replaced, by key. */
  resources: readonly R[];
  /** Keys deleted (workload uid; `namespace/name` for services and policies; "mesh"). Unknown keys are ignored. */
  removed: readonly string[];
}

/** One resource type's update, as the config stream delivers it. ztunnel does not take Routes. */
export type StateUpdate =
  | TypedUpdate<'Workload', Workload>
  | TypedUpdate<'Service', Service>
  | TypedUpdate<'Authorization', Authorization>
  | TypedUpdate<'MeshConfig', MeshConfig>;

export interface StateChange {
  previous: MeshSnapshot;
  current: MeshSnapshot;
  /** What caused it: a whole config, or one type's update. */
  cause: 'replace' | StateUpdate['type'];
}

export interface MeshStateOptions {
  initial?: MeshSnapshot;
  /** Where an exception thrown by a change listener goes (default: rethrown on a later tick). */
  onListenerError?: (err: unknown) => void;
}

export class MeshState {
  #current: MeshSnapshot;
  readonly #listeners = new Set<(change: StateChange) => void>();
  readonly #onListenerError: (err: unknown) => void;

  constructor(opts: MeshStateOptions = {}) {
    this.#current = opts.initial ?? emptySnapshot();
    this.#onListenerError =
      opts.onListenerError ??
      ((err) =>
        setImmediate(() => {
          throw err;
        }));
  }

  /** The snapshot in force. Hold on to it for the duration of one decision. */
  get current(): MeshSnapshot {
    return this.#current;
  }

  /** Calls `listener` after every swap; returns a function that unsubscribes it. */
  onChange(listener: (change: StateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces everything (a local config file was (re)loaded). Throws MeshStateConflictError, keeping the old state. */
  replace(resources: MeshResources): MeshSnapshot {
    return this.#swap(buildSnapshot(resources, this.#current.generation + 1), 'replace');
  }

  /** Applies one type's snapshot or delta. All or nothing: throws MeshStateConflictError, keeping the old state. */
  apply(update: StateUpdate): MeshSnapshot {
    const r = this.#current.resources;
    let next: MeshResources;
    switch (update.type) {
      case 'Workload':
        next = { ...r, workloads: merge(r.workloads, update, (w) => w.uid) };
        break;
      case 'Service':
        next = { ...r, services: merge(r.services, update, serviceKey) };
        break;
      case 'Authorization':
        next = { ...r, policies: merge(r.policies, update, (p) => `${p.namespace}/${p.name}`) };
        break;
      case 'MeshConfig': {
        const meshes = merge([r.mesh], update, () => MESH_CONFIG_KEY);
        next = { ...r, mesh: meshes[0] ?? DEFAULT_MESH_CONFIG };
        break;
      }
    }
    return this.#swap(buildSnapshot(next, this.#current.generation + 1), update.type);
  }

  #swap(next: MeshSnapshot, cause: StateChange['cause']): MeshSnapshot {
    const previous = this.#current;
    this.#current = next;
    for (const l of this.#listeners) {
      try {
        l({ previous, current: next, cause });
      } catch (err) {
        this.#onListenerError(err);
      }
    }
    return next;
  }
}

function merge<R>(
  existing: readonly R[],
  update: { full: boolean; resources: readonly R[]; removed: readonly string[] },
  key: (r: R) => string,
): R[] {
  const byKey = new Map<string, R>();
  if (!update.full) for (const r of existing) byKey.set(key(r), r);
  for (const k of update.removed) byKey.delete(k);
  const seen = new Set<string>();
  for (const r of update.resources) {
    const k = key(r);
    if (seen.has(k)) throw new MeshStateConflictError(`update carries ${k} twice`);
    seen.add(k);
    byKey.set(k, r);
  }
  return [...byKey.values()];
}

/**
 * The StateUpdate a config-stream message asks for. `full` is true for the first message of its
 * type on a stream (a snapshot). Routes are for waypoints: undefined.
 */
export function stateUpdateFromMessage(msg: ServerMessage, full: boolean): StateUpdate | undefined {
  const { removed } = msg;
  switch (msg.type) {
    case 'Workload':
      return { type: msg.type, full, resources: msg.resources, removed };
    case 'Service':
      return { type: msg.type, full, resources: msg.resources, removed };
    case 'Authorization':
      return { type: msg.type, full, resources: msg.resources, removed };
    case 'MeshConfig':
      return { type: msg.type, full, resources: msg.resources, removed };
    case 'Route':
      return undefined;
  }
}
