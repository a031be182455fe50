// The difference between two translations, per resource type, by the stream's resource keys:
// what the config stream server sends as a delta. Translation output is deterministic, so a
// resource that did not change compares equal and a one-pod change is a one-resource delta.

import { isDeepStrictEqual } from 'node:util';
import {
  RESOURCE_TYPES,
  resourceKey,
  type ResourceOf,
  type ResourceType,
} from '@ambit/core/mesh/stream-protocol';
import type { MeshResources } from './translation.ts';

export interface ResourceDelta<T extends ResourceType> {
  /** Added or changed resources, in key order. */
  changed: ResourceOf[T][];
  /** Keys of resources that are gone, sorted. */
  removed: string[];
}

export type MeshDelta = { [T in ResourceType]: ResourceDelta<T> };

function typeDelta<T extends ResourceType>(
  type: T,
  prev: readonly ResourceOf[T][],
  next: readonly ResourceOf[T][],
): ResourceDelta<T> {
  const before = new Map<string, ResourceOf[T]>();
  for (const r of prev) before.set(resourceKey(type, r), r);
  const changed: ResourceOf[T][] = [];
  const kept = new Set<string>();
  for (const r of next) {
    const key = resourceKey(type, r);
    kept.add(key);
    const old = before.get(key);
    if (old === undefined || !isDeepStrictEqual(old, r)) changed.push(r);
  }
  const removed = [...before.keys()].filter((k) => !kept.has(k)).sort();
  return { changed, removed };
}

/** What changed from `prev` (undefined: nothing sent yet, so everything is new) to `next`. */
export function computeDelta(prev: MeshResources | undefined, next: MeshResources): MeshDelta {
  const one = <T extends ResourceType>(t: T): ResourceDelta<T> =>
    typeDelta(t, prev?.[t] ?? [], next[t]);
  return {
    Workload: one('Workload'),
    Service: one('Service'),
    Authorization: one('Authorization'),
    Route: one('Route'),
    MeshConfig: one('MeshConfig'),
  };
}

/** Number of changed plus removed resources over all types. */
export function deltaSize(d: MeshDelta): number {
  return RESOURCE_TYPES.reduce((n, t) => n + d[t].changed.length + d[t].removed.length, 0);
}
