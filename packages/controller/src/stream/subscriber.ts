// One config-stream subscriber (a ztunnel or waypoint on one stream): per subscribed type, the
// version it has ACKed on this stream, the keys it holds, and the one message in flight.
//
// The rules (docs/config-stream.md, "Server rules"):
// - A type's first message on a stream is a full snapshot; so is every one until the client ACKs
//   one. After that, deltas, each relative to the last version the client ACKed.
// - At most one message per type in flight. Changes published meanwhile are not queued: the next
//   delta is computed from the last ACKed version to the store's version at send time, so any
//   number of changes coalesce into one message and a slow subscriber costs bounded memory.
// - A NACK leaves the subscriber at its last ACKed version. The same version is never sent again:
//   the server waits for the store to move on, then sends a delta (or snapshot) from the ACKed
//   version that carries everything the client lacks.

import { randomBytes } from 'node:crypto';
import type { Logger } from '@ambit/core/log';
import type {
  AckMessage,
  NackMessage,
  ResourceType,
  SubscribeMessage,
} from '@ambit/core/mesh/stream-protocol';
import type { ConfigStore } from './config-store.ts';
import type { StreamMetrics } from './stream-metrics.ts';
import { scopeFor, type ScopePredicate, type SubscriberIdentity } from './subscriber-scope.ts';

/** Where a subscriber's lines go (the HTTP/2 stream). */
export interface SubscriberSink {
  write(line: string): void;
  /** Bytes written but not yet taken by the peer (HTTP/2 flow control holds them back). */
  bufferedBytes(): number;
}

interface InFlight {
  nonce: string;
  version: number;
  snapshot: boolean;
  upserts: readonly string[];
  removed: readonly string[];
  sentAt: number;
  bytes: number;
}

interface TypeSession {
  type: ResourceType;
  /** Store version ACKed on this stream; undefined: nothing yet, the next message is a snapshot. */
  acked: number | undefined;
  /** Keys the client holds as of `acked` (in this subscriber's scope). */
  held: Set<string>;
  inFlight: InFlight | undefined;
  /** A message of this version was NACKed: send nothing until the store is past it. */
  refusedAt: number | undefined;
  nacks: number;
  lastNack?: { version: string; reason: string; at: string };
}

/** What /debug and tests see of one subscriber. */
export interface SubscriberInfo {
  id: number;
  identity: SubscriberIdentity;
  node: string;
  connectedAt: string;
  /** Versions the client said it held when it subscribed (resume). */
  resumedFrom: Partial<Record<ResourceType, string>>;
  bufferedBytes: number;
  types: Partial<
    Record<
      ResourceType,
      {
        acked?: string;
        resources: number;
        inFlight?: { version: string; snapshot: boolean; bytes: number; ageMs: number };
        nacks: number;
        lastNack?: { version: string; reason: string; at: string };
      }
    >
  >;
}

export interface SubscriberOptions {
  id: number;
  identity: SubscriberIdentity;
  subscribe: SubscribeMessage;
  store: ConfigStore;
  sink: SubscriberSink;
  log: Logger;
  metrics?: StreamMetrics;
  /** Called after every ACK, with the store version now in force at the subscriber. */
  onAck?: (type: ResourceType, version: number) => void;
  now?: () => number;
}

export class Subscriber {
  readonly id: number;
  readonly identity: SubscriberIdentity;
  readonly subscribe: SubscribeMessage;
  readonly connectedAt: number;
  readonly #store: ConfigStore;
  readonly #sink: SubscriberSink;
  readonly #scope: ScopePredicate;
  readonly #log: Logger;
  readonly #metrics: StreamMetrics | undefined;
  readonly #onAck: SubscriberOptions['onAck'];
  readonly #now: () => number;
  readonly #types = new Map<ResourceType, TypeSession>();
  readonly #noncePrefix = randomBytes(6).toString('hex');
  #nonces = 0;
  #closed = false;

  constructor(o: SubscriberOptions) {
    this.id = o.id;
    this.identity = o.identity;
    this.subscribe = o.subscribe;
    this.#store = o.store;
    this.#sink = o.sink;
    this.#scope = scopeFor(o.identity);
    this.#log = o.log;
    this.#metrics = o.metrics;
    this.#onAck = o.onAck;
    this.#now = o.now ?? Date.now;
    this.connectedAt = this.#now();
    for (const type of new Set(o.subscribe.types)) {
      this.#types.set(type, {
        type,
        acked: undefined,
        held: new Set(),
        inFlight: undefined,
        refusedAt: undefined,
        nacks: 0,
      });
    }
  }

  get types(): ResourceType[] {
    return [...this.#types.keys()];
  }

  /** No more sends (the stream ended). */
  close(): void {
    this.#closed = true;
  }

  /**
   * Sends the next message of `type` if there is something to send and nothing in flight:
   * a snapshot before the first ACK, else a delta from the ACKed version up to `upTo` (the
   * version released by the server's debounce; default the store's current version).
   */
  pump(type: ResourceType, upTo = this.#store.version(type)): void {
    const s = this.#types.get(type);
    if (s === undefined || this.#closed || s.inFlight !== undefined) return;
    const current = this.#store.version(type);
    if (s.refusedAt !== undefined && current <= s.refusedAt) return; // wait for a new change
    if (s.acked === undefined) {
      this.#send(s, current, true, this.#snapshotKeys(type), []);
      return;
    }
    if (s.acked >= Math.min(upTo, current)) return;
    const { upserts, removed } = this.#delta(s);
    if (upserts.length === 0 && removed.length === 0) {
      // Nothing in this subscriber's scope changed: its view at `current` is the one it ACKed.
      s.acked = current;
      return;
    }
    this.#send(s, current, false, upserts, removed);
  }

  /** Handles an ACK or NACK. Returns why it breaks the protocol (the stream must end), or undefined. */
  reply(msg: AckMessage | NackMessage): string | undefined {
    const s = this.#types.get(msg.type);
    const f = s?.inFlight;
    if (s === undefined || f === undefined || f.nonce !== msg.nonce) {
      return `${msg.kind} for ${msg.type} nonce ${JSON.stringify(msg.nonce)}, which is not the message in flight`;
    }
    s.inFlight = undefined;
    const mode = f.snapshot ? 'snapshot' : 'delta';
    if (msg.kind === 'ack') {
      const from = s.acked;
      s.acked = f.version;
      s.refusedAt = undefined;
      if (f.snapshot) s.held = new Set(f.upserts);
      else {
        for (const k of f.upserts) s.held.add(k);
        for (const k of f.removed) s.held.delete(k);
      }
      if (!f.snapshot && from !== undefined) {
        // Latency of the oldest change this message carried: from its publish to this ACK.
        const at = this.#store.publishedAt(msg.type, from + 1);
        if (at !== undefined) {
          this.#metrics?.pushLatency.observe({ type: msg.type }, (this.#now() - at) / 1000);
        }
      }
      this.#log.debug('config ACKed', { type: msg.type, version: msg.version, mode });
      this.#onAck?.(msg.type, f.version);
    } else {
      s.refusedAt = f.version;
      s.nacks++;
      s.lastNack = {
        version: this.#store.wireVersion(f.version),
        reason: msg.reason.slice(0, 1000),
        at: new Date(this.#now()).toISOString(),
      };
      this.#metrics?.nacks.inc({ type: msg.type });
      this.#log.warn('config NACKed: the data plane keeps its last good version', {
        type: msg.type,
        refused: this.#store.wireVersion(f.version),
        mode,
        keeps: msg.version,
        reason: msg.reason.slice(0, 1000),
      });
    }
    return undefined;
  }

  /** The age (ms) of the oldest message in flight, or undefined. */
  oldestInFlightMs(now = this.#now()): number | undefined {
    let oldest: number | undefined;
    for (const s of this.#types.values()) {
      if (s.inFlight !== undefined) oldest = Math.max(oldest ?? 0, now - s.inFlight.sentAt);
    }
    return oldest;
  }

  info(): SubscriberInfo {
    const now = this.#now();
    const types: SubscriberInfo['types'] = {};
    for (const [t, s] of this.#types) {
      const f = s.inFlight;
      types[t] = {
        ...(s.acked !== undefined && { acked: this.#store.wireVersion(s.acked) }),
        resources: s.held.size,
        ...(f && {
          inFlight: {
            version: this.#store.wireVersion(f.version),
            snapshot: f.snapshot,
            bytes: f.bytes,
            ageMs: now - f.sentAt,
          },
        }),
        nacks: s.nacks,
        ...(s.lastNack && { lastNack: s.lastNack }),
      };
    }
    return {
      id: this.id,
      identity: this.identity,
      node: this.subscribe.node,
      connectedAt: new Date(this.connectedAt).toISOString(),
      resumedFrom: this.subscribe.versions,
      bufferedBytes: this.#sink.bufferedBytes(),
      types,
    };
  }

  #snapshotKeys(type: ResourceType): string[] {
    const keys: string[] = [];
    for (const [key, e] of this.#store.entries(type)) {
      if (this.#scope(type, e.resource)) keys.push(key);
    }
    return keys;
  }

  #delta(s: TypeSession): { upserts: string[]; removed: string[] } {
    const upserts: string[] = [];
    const removed: string[] = [];
    const changed = this.#store.changedSince(s.type, s.acked ?? 0);
    if (changed === undefined) {
      // The change log does not reach back to the ACKed version: compare whole sets.
      const now = new Set(this.#snapshotKeys(s.type));
      for (const key of now) {
        const e = this.#store.get(s.type, key);
        if (!s.held.has(key) || (e !== undefined && e.version > (s.acked ?? 0))) upserts.push(key);
      }
      for (const key of s.held) if (!now.has(key)) removed.push(key);
      return { upserts, removed };
    }
    for (const key of changed) {
      const e = this.#store.get(s.type, key);
      if (e !== undefined && this.#scope(s.type, e.resource)) {
        upserts.push(key);
      } else if (s.held.has(key)) {
        removed.push(key);
      }
    }
    return { upserts, removed };
  }

  #send(
    s: TypeSession,
    version: number,
    snapshot: boolean,
    upserts: readonly string[],
    removed: readonly string[],
  ): void {
    const nonce = `${this.#noncePrefix}-${(this.#nonces++).toString(36)}`;
    const parts: string[] = [];
    for (const key of upserts) {
      const e = this.#store.get(s.type, key);
      if (e !== undefined) parts.push(e.json);
    }
    // The envelope of encodeServerMessage, assembled from the resources' JSON encoded once at
    // publish, so 50 subscribers do not stringify the same 1,000 workloads 50 times.
    const line =
      `{"schema":1,"type":${JSON.stringify(s.type)},"version":${JSON.stringify(this.#store.wireVersion(version))},` +
      `"nonce":${JSON.stringify(nonce)},"resources":[${parts.join(',')}],"removed":${JSON.stringify(removed)}}\n`;
    const bytes = Buffer.byteLength(line);
    s.inFlight = { nonce, version, snapshot, upserts, removed, sentAt: this.#now(), bytes };
    const mode = snapshot ? 'snapshot' : 'delta';
    this.#metrics?.pushes.inc({ type: s.type, mode });
    this.#metrics?.configBytes.inc({ type: s.type, mode }, bytes);
    this.#sink.write(line);
  }
}
