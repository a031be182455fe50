// Where a data plane's mesh config comes from: the controller's config stream (stream-client.ts) or,
// for development, a local YAML file (packages/ztunnel/src/state/watch-local-config.ts). Both have
// the same shape: started with hooks, they feed the consumer validated updates, keep the last good
// config when something goes wrong (a bad file edit, a NACKed message, a lost controller), report
// errors through `onError`, and hand back a handle with `reload()` and `close()`.

import type { ResourceOf, ResourceType } from './stream-protocol.ts';

/** One resource type after an update: the complete set the source now holds, and what changed. */
export interface ConfigUpdate<T extends ResourceType = ResourceType> {
  type: T;
  /** The version of the set (opaque; from the controller, or the file's generation). */
  version: string;
  /** true when the update replaced the whole type (the first message of the type on a stream). */
  snapshot: boolean;
  /** Everything of this type now in force, by key (see resourceKey). Never mutated afterwards. */
  resources: ReadonlyMap<string, ResourceOf[T]>;
  /**
   * Keys added or replaced. For a snapshot, only those whose resource differs from what was held
   * before (so a reconnect that finds nothing new reports nothing changed).
   */
  changed: readonly string[];
  /** Keys deleted (only keys that were held). */
  removed: readonly string[];
}

/** Any one type's update (`type` narrows `resources`). */
export type AnyConfigUpdate = { [T in ResourceType]: ConfigUpdate<T> }[ResourceType];

/** What a consumer (ztunnel's or the waypoint's state store) gives a config source. */
export interface ConfigSourceHooks {
  /**
   * The consumer applies one validated update, synchronously, before the source commits it. Throw
   * (a MeshError, e.g. MeshStateConflictError) to refuse it: the source then keeps its previous
   * copy (the stream NACKs with the error's message), so source and consumer never disagree.
   */
  apply?(update: AnyConfigUpdate): void;
  /** An update was applied and committed (after `apply` returned). For logs and metrics. */
  onUpdate?(update: AnyConfigUpdate): void;
  /**
   * Something went wrong and the last good config stays in force: a refused update, a lost or
   * refused connection, an unreadable file. Errors are MeshErrors with a stable `code`.
   */
  onError?(err: Error): void;
}

/** The handle every config source returns. */
export interface ConfigSource {
  /**
   * Local file: re-read it now. Config stream: if waiting to reconnect, reconnect now (skipping
   * the rest of the backoff). Resolves once that attempt has been applied, connected or refused.
   */
  reload(): Promise<void>;
  /** Stops the source for good (no more reads or reconnects). The last config stays with the consumer. */
  close(): void | Promise<void>;
}
