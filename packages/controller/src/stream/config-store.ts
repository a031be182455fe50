// The controller's config, versioned per resource type: what the translation layer publishes and
// what every config-stream subscriber is brought up to date with (docs/controller.md, "Config
// stream server").
//
// Each type has a version counter that grows by one for every publish that changes something, a
// map of resources by key (resourceKey of stream-protocol) with their JSON encoded once, and a
// bounded change log (which keys changed at which version) so that a delta from any recent version
// to the current one is computed from the changes alone, not by comparing whole sets. Versions on
// the wire are `<epoch>-<n>`: the epoch is random per store, so a version from another controller
// process or replica never looks current.

import { randomBytes } from 'node:crypto';
import { ConfigPublishError } from '@ambit/core/errors';
import {
  RESOURCE_TYPES,
  resourceKey,
  type ResourceOf,
  type ResourceType,
} from '@ambit/core/mesh/stream-protocol';

/** What the translation layer hands over for one type: resources added or replaced, keys deleted. */
export interface ConfigChange<T extends ResourceType = ResourceType> {
  changed: ReadonlyMap<string, ResourceOf[T]>;
  removed: ReadonlySet<string>;
}

/** One stored resource. */
export interface StoredResource {
  readonly resource: unknown;
  /** `JSON.stringify(resource)`, computed once at publish and reused for every subscriber. */
  readonly json: string;
  /** The type version at which it last changed. */
  readonly version: number;
}

interface LogEntry {
  version: number;
  /** When it was published (ms since epoch): push latency is measured from here. */
  at: number;
  keys: readonly string[];
}

interface TypeState {
  version: number;
  /** Published at least once (full replace or change): the type's set is known. */
  synced: boolean;
  entries: Map<string, StoredResource>;
  log: LogEntry[];
  logKeys: number;
}

export interface ConfigStoreOptions {
  /** Types that must have been published before the store is ready (default: all). */
  requiredTypes?: readonly ResourceType[];
  /** Change-log entries kept per type: at least this many keys (default 4096) or twice the set's size. */
  minLogKeys?: number;
  now?: () => number;
}

export type PublishListener = (type: ResourceType, version: number) => void;

export class ConfigStore {
  /** Random per store: the prefix of every wire version. */
  readonly epoch: string;
  readonly #types = new Map<ResourceType, TypeState>();
  readonly #required: readonly ResourceType[];
  readonly #minLogKeys: number;
  readonly #now: () => number;
  readonly #listeners = new Set<PublishListener>();

  constructor(opts: ConfigStoreOptions = {}) {
    this.epoch = randomBytes(4).toString('hex');
    this.#required = opts.requiredTypes ?? RESOURCE_TYPES;
    this.#minLogKeys = opts.minLogKeys ?? 4096;
    this.#now = opts.now ?? Date.now;
    for (const t of RESOURCE_TYPES) {
      this.#types.set(t, { version: 0, synced: false, entries: new Map(), log: [], logKeys: 0 });
    }
  }

  /**
   * Applies a change to one type. Resources whose JSON is unchanged and removals of unknown keys are
   * dropped; if nothing is left the version stays. Throws ConfigPublishError (and changes nothing)
   * when a map key is not the resource's key or a key is both changed and removed.
   * Returns the type's version afterwards.
   */
  publish<T extends ResourceType>(type: T, change: ConfigChange<T>): number {
    const s = this.#state(type);
    const upserts: [string, string, unknown][] = [];
    for (const [key, resource] of change.changed) {
      const actual = resourceKey(type, resource);
      if (actual !== key) {
        throw new ConfigPublishError(
          `${type} published under key ${JSON.stringify(key)} but its key is ${JSON.stringify(actual)}`,
        );
      }
      if (change.removed.has(key)) {
        throw new ConfigPublishError(`${type} ${JSON.stringify(key)} is both changed and removed`);
      }
      const json = JSON.stringify(resource);
      if (s.entries.get(key)?.json !== json) upserts.push([key, json, resource]);
    }
    const removals = [...change.removed].filter((k) => s.entries.has(k));
    s.synced = true;
    if (upserts.length === 0 && removals.length === 0) return s.version;

    const version = s.version + 1;
    for (const [key, json, resource] of upserts) s.entries.set(key, { resource, json, version });
    for (const key of removals) s.entries.delete(key);
    const keys = [...upserts.map(([k]) => k), ...removals];
    s.version = version;
    s.log.push({ version, at: this.#now(), keys });
    s.logKeys += keys.length;
    this.#prune(s);
    for (const listener of this.#listeners) listener(type, version);
    return version;
  }

  /** Replaces the whole set of one type (e.g. after the translation's initial sync). */
  replace<T extends ResourceType>(type: T, resources: Iterable<ResourceOf[T]>): number {
    const changed = new Map<string, ResourceOf[T]>();
    for (const r of resources) {
      const key = resourceKey(type, r);
      if (changed.has(key)) {
        throw new ConfigPublishError(`${type} ${JSON.stringify(key)} appears twice in a replace`);
      }
      changed.set(key, r);
    }
    const removed = new Set<string>();
    for (const key of this.#state(type).entries.keys()) if (!changed.has(key)) removed.add(key);
    return this.publish(type, { changed, removed });
  }

  /** Calls `listener` after every publish that changed something. Returns an unsubscribe function. */
  onPublish(listener: PublishListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every required type has been published at least once. */
  ready(): boolean {
    return this.#required.every((t) => this.#state(t).synced);
  }

  /** The types still waiting for their first publish. */
  unsyncedTypes(): ResourceType[] {
    return this.#required.filter((t) => !this.#state(t).synced);
  }

  version(type: ResourceType): number {
    return this.#state(type).version;
  }

  /** The wire form of a version of `type`. */
  wireVersion(version: number): string {
    return `${this.epoch}-${version}`;
  }

  /** The numeric version of a wire version of this store, or undefined (another epoch, garbage). */
  parseWireVersion(wire: string): number | undefined {
    const prefix = `${this.epoch}-`;
    if (!wire.startsWith(prefix)) return undefined;
    const n = Number(wire.slice(prefix.length));
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  }

  get(type: ResourceType, key: string): StoredResource | undefined {
    return this.#state(type).entries.get(key);
  }

  entries(type: ResourceType): ReadonlyMap<string, StoredResource> {
    return this.#state(type).entries;
  }

  size(type: ResourceType): number {
    return this.#state(type).entries.size;
  }

  /**
   * The keys changed (upserted or removed) after version `from` up to the current version, or
   * undefined when the change log no longer reaches back that far (the caller compares whole sets).
   */
  changedSince(type: ResourceType, from: number): Set<string> | undefined {
    const s = this.#state(type);
    if (from >= s.version) return new Set();
    const oldest = s.log[0];
    if (oldest === undefined || oldest.version > from + 1) return undefined;
    const keys = new Set<string>();
    for (let i = s.log.length - 1; i >= 0; i--) {
      const e = s.log[i];
      if (e === undefined || e.version <= from) break;
      for (const k of e.keys) keys.add(k);
    }
    return keys;
  }

  /** When `version` of `type` was published (ms since epoch), if the change log still has it. */
  publishedAt(type: ResourceType, version: number): number | undefined {
    const log = this.#state(type).log;
    const oldest = log[0];
    if (oldest === undefined) return undefined;
    return log[version - oldest.version]?.at;
  }

  #state(type: ResourceType): TypeState {
    const s = this.#types.get(type);
    if (s === undefined) throw new ConfigPublishError(`unknown resource type ${String(type)}`);
    return s;
  }

  #prune(s: TypeState): void {
    const bound = Math.max(this.#minLogKeys, 2 * s.entries.size);
    let drop = 0;
    while (s.logKeys > bound && drop < s.log.length - 1) {
      s.logKeys -= s.log[drop]?.keys.length ?? 0;
      drop++;
    }
    if (drop > 0) s.log.splice(0, drop);
  }
}
