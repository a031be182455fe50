// The config-stream client's bookkeeping, as a pure function: given the set of one resource type
// the client holds and a decoded server message, compute the next set and the update to hand the
// consumer. Nothing is mutated, so a refused message (thrown here, or by the consumer) leaves the
// held set exactly as it was.

import { isDeepStrictEqual } from 'node:util';
import { ConfigStreamMessageError } from '../errors.ts';
import type { AnyConfigUpdate } from './config-source.ts';
import {
  resourceKey,
  type ResourceOf,
  type ResourceType,
  type ServerMessage,
} from './stream-protocol.ts';

/** What the client holds of one type: the version it last ACKed and the resources by key. */
export interface HeldType<T extends ResourceType = ResourceType> {
  version: string;
  resources: ReadonlyMap<string, ResourceOf[T]>;
}

/**
 * Applies `msg` to `held` (undefined: nothing held yet) as a full snapshot (`snapshot: true`: the
 * message replaces the whole type) or a delta (upsert `resources` by key, delete `removed` keys;
 * unknown removed keys are ignored). Throws ConfigStreamMessageError, naming the field, when the
 * message contradicts itself: a key twice in `resources`, a key both upserted and removed, or a
 * snapshot that removes keys.
 */
export function applyServerMessage(
  held: HeldType | undefined,
  msg: ServerMessage,
  snapshot: boolean,
): { held: HeldType; update: AnyConfigUpdate } {
  const fail = (path: string, why: string): never => {
    throw new ConfigStreamMessageError(
      `config-stream ${msg.type} ${snapshot ? 'snapshot' : 'delta'} ${msg.version}: ${path}: ${why}`,
    );
  };
  const before: ReadonlyMap<string, unknown> = held?.resources ?? new Map();

  const incoming = new Map<string, unknown>();
  msg.resources.forEach((r: ResourceOf[ResourceType], i) => {
    const key = resourceKey(msg.type, r);
    if (incoming.has(key)) fail(`resources[${i}]`, `key ${JSON.stringify(key)} appears twice`);
    incoming.set(key, r);
  });
  if (snapshot && msg.removed.length > 0) {
    fail('removed', 'a snapshot replaces the whole type and cannot remove keys');
  }
  msg.removed.forEach((key, i) => {
    if (incoming.has(key)) {
      fail(`removed[${i}]`, `${JSON.stringify(key)} is also in resources`);
    }
  });

  let next: Map<string, unknown>;
  const changed: string[] = [];
  const removed: string[] = [];
  if (snapshot) {
    next = incoming;
    for (const [key, r] of incoming) {
      if (!before.has(key) || !isDeepStrictEqual(before.get(key), r)) changed.push(key);
    }
    for (const key of before.keys()) if (!incoming.has(key)) removed.push(key);
  } else {
    next = new Map(before);
    for (const [key, r] of incoming) {
      next.set(key, r);
      changed.push(key);
    }
    for (const key of new Set(msg.removed)) {
      if (next.delete(key)) removed.push(key);
    }
  }

  const resources = next as unknown as ReadonlyMap<string, never>;
  return {
    held: { version: msg.version, resources },
    update: { type: msg.type, version: msg.version, snapshot, resources, changed, removed },
  };
}
