// The production config stream server: `POST /ambit.config.v1/stream` on the controller's :15012
// (docs/config-stream.md is the protocol; docs/controller.md, "Config stream server", the server).
//
// One request runs: method (405) → store ready (503) → bearer token (401) → authenticate (401/403;
// a throwing authenticator answers 500, which clients retry) → first line is a valid subscribe
// (400) naming the caller's own node or name (403) → 200, then one snapshot per type, deltas after.
//
// Publishes are debounced: a publish opens a window of `debounceMs` (reset by each further
// publish, but never beyond `maxDelayMs` from the first), then every subscriber with nothing in
// flight for the type is sent one message carrying everything since its last ACK. A subscriber that
// does not read costs at most one message per type (the in-flight rule coalesces the rest), never
// delays another (each has its own HTTP/2 stream, and nothing waits on a write), and is
// disconnected when a message stays unanswered for `ackTimeoutMs`.

import { constants as h2, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createLogger, type Logger } from '@ambit/core/log';
import { CONFIG_STREAM_CONTENT_TYPE } from '@ambit/core/mesh/stream-client';
import {
  LineSplitter,
  decodeClientMessage,
  type ClientMessage,
  type ResourceType,
  type SubscribeMessage,
} from '@ambit/core/mesh/stream-protocol';
import type { Registry } from '@ambit/core/metrics/registry';
import type { ConfigStore } from './config-store.ts';
import {
  createStreamMetrics,
  type DisconnectReason,
  type StreamMetrics,
} from './stream-metrics.ts';
import { Subscriber, type SubscriberInfo } from './subscriber.ts';
import {
  describeSubscriber,
  subscribeMismatch,
  type SubscriberIdentity,
} from './subscriber-scope.ts';

/** The authenticator's verdict on a bearer token (the controller plugs in TokenReview). */
export type StreamAuthResult =
  { ok: true; identity: SubscriberIdentity } | { ok: false; status?: 401 | 403; reason: string };

export type StreamAuthenticator = (
  token: string,
  request: { remoteAddress: string | undefined },
) => Promise<StreamAuthResult>;

export interface ConfigStreamServerOptions {
  store: ConfigStore;
  authenticate: StreamAuthenticator;
  log?: Logger;
  /** Metrics go here (see stream-metrics.ts); none when absent. */
  registry?: Registry;
  /** Quiet time after a publish before subscribers are sent it. Default 100 ms. */
  debounceMs?: number;
  /** A burst of publishes is sent at the latest this long after its first. Default 1 s. */
  maxDelayMs?: number;
  /** A message unanswered this long ends the subscriber's stream. Default 60 s. */
  ackTimeoutMs?: number;
  /** The subscribe line must arrive within this. Default 10 s. */
  subscribeTimeoutMs?: number;
  /** Longest client line accepted (client lines are small). Default 1 Mi characters. */
  maxClientLineChars?: number;
  /** Called after every ACK (benchmarks, tests): which subscriber now runs which version. */
  onAck?: (ack: { subscriber: number; type: ResourceType; version: number }) => void;
  now?: () => number;
}

interface Live {
  stream: ServerHttp2Stream;
  subscriber: Subscriber;
}

export class ConfigStreamServer {
  readonly #o: ConfigStreamServerOptions;
  readonly #store: ConfigStore;
  readonly #log: Logger;
  readonly #metrics: StreamMetrics | undefined;
  readonly #now: () => number;
  readonly #live = new Map<number, Live>();
  /** Per type, the store version released to subscribers by the debounce. */
  readonly #released = new Map<ResourceType, number>();
  readonly #pending = new Set<ResourceType>();
  readonly #unsubscribe: () => void;
  readonly #sweep: NodeJS.Timeout;
  #debounce: { timer: NodeJS.Timeout; firstAt: number } | undefined;
  #ids = 0;
  #closed = false;

  constructor(opts: ConfigStreamServerOptions) {
    this.#o = opts;
    this.#store = opts.store;
    this.#log = opts.log ?? createLogger({ fields: { component: 'config-stream' } });
    this.#metrics = opts.registry && createStreamMetrics(opts.registry);
    this.#now = opts.now ?? Date.now;
    this.#unsubscribe = this.#store.onPublish((type) => this.#onPublish(type));
    const ackTimeout = opts.ackTimeoutMs ?? 60_000;
    this.#sweep = setInterval(
      () => this.#disconnectStuck(ackTimeout),
      Math.max(50, ackTimeout / 4),
    ).unref();
  }

  /** Readiness (for /healthz/ready): the store has every type, and the server is not closed. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.#closed) return { ready: false, reason: 'config stream server closed' };
    const missing = this.#store.unsyncedTypes();
    if (missing.length > 0) {
      return { ready: false, reason: `config not yet translated: ${missing.join(', ')}` };
    }
    return { ready: true };
  }

  /** Every connected subscriber, for /debug and tests. */
  subscribers(): SubscriberInfo[] {
    return [...this.#live.values()].map((l) => l.subscriber.info());
  }

  /** Ends every stream (clients reconnect, to this or another replica) and stops the timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    clearInterval(this.#sweep);
    if (this.#debounce) clearTimeout(this.#debounce.timer);
    for (const id of [...this.#live.keys()]) this.#end(id, 'shutdown', h2.NGHTTP2_NO_ERROR);
  }

  /** The http2 'stream' handler for CONFIG_STREAM_PATH. Never throws. */
  readonly handleStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    stream.on('error', () => {});
    if (headers[h2.HTTP2_HEADER_METHOD] !== 'POST') {
      this.#refuse(stream, 405, 'use POST');
      return;
    }
    const ready = this.readiness();
    if (!ready.ready) {
      this.#refuse(stream, 503, ready.reason ?? 'not ready');
      return;
    }
    const token = /^Bearer +(\S+)\s*$/i.exec(String(headers.authorization ?? ''))?.[1];
    if (token === undefined) {
      this.#refuse(stream, 401, 'missing "authorization: Bearer <ServiceAccount token>"');
      return;
    }

    // Lines may arrive while the token is checked: keep them until the verdict.
    const splitter = new LineSplitter(this.#o.maxClientLineChars ?? 1024 * 1024);
    const early: string[] = [];
    let onLines: (lines: string[]) => void = (lines) => {
      early.push(...lines);
      // A client has nothing to say but its subscribe before it is answered.
      if (early.length > 8) onBroken('too many messages before the subscribe was answered');
    };
    const refuse = (status: number, why: string) => {
      clearTimeout(timer);
      onLines = () => {};
      onBroken = () => {};
      this.#refuse(stream, status, why);
    };
    let onBroken = (why: string) => refuse(400, why);
    const timer = setTimeout(
      () => onBroken('no subscribe message received in time'),
      this.#o.subscribeTimeoutMs ?? 10_000,
    ).unref();
    stream.on('close', () => clearTimeout(timer));
    stream.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (err) {
        onBroken((err as Error).message);
        return;
      }
      onLines(lines);
    });

    const remoteAddress = stream.session?.socket?.remoteAddress;
    this.#o.authenticate(token, { remoteAddress }).then(
      (verdict) => {
        if (stream.destroyed || stream.closed) return;
        if (!verdict.ok) {
          refuse(verdict.status ?? 401, verdict.reason);
          return;
        }
        const identity = verdict.identity;
        onLines = (lines) => {
          const [first, ...rest] = lines;
          if (first === undefined) return;
          clearTimeout(timer);
          let sub: ClientMessage;
          try {
            sub = decodeClientMessage(first);
          } catch (err) {
            refuse(400, (err as Error).message);
            return;
          }
          if (sub.kind !== 'subscribe') {
            refuse(400, `the first message must be a subscribe, not ${sub.kind}`);
            return;
          }
          const mismatch = subscribeMismatch(identity, sub);
          if (mismatch !== undefined) {
            refuse(403, mismatch);
            return;
          }
          const handle = this.#open(stream, identity, sub, remoteAddress);
          onLines = handle.lines;
          onBroken = handle.broken;
          handle.lines(rest);
        };
        onLines(early.splice(0));
      },
      (err: unknown) => {
        this.#log.error('config-stream authenticator failed', { err });
        refuse(500, 'cannot authenticate the caller now; retry');
      },
    );
  };

  /** Answers 200 and starts serving; returns the line handlers for the rest of the stream. */
  #open(
    stream: ServerHttp2Stream,
    identity: SubscriberIdentity,
    sub: SubscribeMessage,
    remoteAddress: string | undefined,
  ): { lines: (lines: string[]) => void; broken: (why: string) => void } {
    const id = ++this.#ids;
    const log = this.#log.child({ subscriber: describeSubscriber(identity), streamId: id });
    let pendingBytes = 0;
    const subscriber = new Subscriber({
      id,
      identity,
      subscribe: sub,
      store: this.#store,
      log,
      ...(this.#metrics && { metrics: this.#metrics }),
      now: this.#now,
      ...(this.#o.onAck && {
        onAck: (type: ResourceType, version: number) =>
          this.#o.onAck?.({ subscriber: id, type, version }),
      }),
      sink: {
        write: (line) => {
          if (stream.destroyed || stream.closed) return;
          const bytes = Buffer.byteLength(line);
          pendingBytes += bytes;
          stream.write(line, () => (pendingBytes -= bytes));
        },
        bufferedBytes: () => pendingBytes,
      },
    });
    stream.respond({
      [h2.HTTP2_HEADER_STATUS]: 200,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: CONFIG_STREAM_CONTENT_TYPE,
    });
    this.#live.set(id, { stream, subscriber });
    this.#metrics?.connected.inc({ kind: identity.kind });
    stream.on('close', () => {
      if (this.#live.delete(id)) {
        subscriber.close();
        this.#metrics?.connected.dec({ kind: identity.kind });
        this.#metrics?.disconnects.inc({ reason: 'closed' });
        log.info('config subscriber disconnected');
      }
    });
    log.info('config subscriber connected', {
      node: sub.node,
      types: subscriber.types,
      remoteAddress,
      resume: this.#describeResume(sub),
    });
    for (const type of subscriber.types) subscriber.pump(type);

    const broken = (why: string) => {
      log.warn('config subscriber broke the protocol; stream reset', { reason: why });
      this.#end(id, 'protocol', h2.NGHTTP2_PROTOCOL_ERROR);
    };
    const lines = (batch: string[]) => {
      for (const line of batch) {
        if (!this.#live.has(id)) return;
        let msg: ClientMessage;
        try {
          msg = decodeClientMessage(line);
        } catch (err) {
          broken((err as Error).message);
          return;
        }
        if (msg.kind === 'subscribe') {
          broken('a second subscribe on one stream');
          return;
        }
        const violation = subscriber.reply(msg);
        if (violation !== undefined) {
          broken(violation);
          return;
        }
        // The debounce released more since that message was sent: send it now (after a NACK
        // too: newer content is not the refused version, and may be the fix).
        subscriber.pump(msg.type, this.#releasedVersion(msg.type));
      }
    };
    return { lines, broken };
  }

  /** Resume (docs/config-stream.md): schema 1 always starts with snapshots; this is for the log. */
  #describeResume(sub: SubscribeMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [t, held] of Object.entries(sub.versions) as [ResourceType, string][]) {
      const v = this.#store.parseWireVersion(held);
      out[t] =
        v === undefined
          ? 'from another controller'
          : v === this.#store.version(t)
            ? 'current'
            : `behind by ${this.#store.version(t) - v}`;
    }
    return out;
  }

  #releasedVersion(type: ResourceType): number {
    return this.#released.get(type) ?? this.#store.version(type);
  }

  #onPublish(type: ResourceType): void {
    if (this.#closed) return;
    this.#pending.add(type);
    const now = this.#now();
    const debounceMs = this.#o.debounceMs ?? 100;
    const maxDelayMs = this.#o.maxDelayMs ?? 1000;
    // Until released, subscribers that ACK stay at the version before this burst.
    if (!this.#released.has(type)) this.#released.set(type, this.#store.version(type) - 1);
    const firstAt = this.#debounce?.firstAt ?? now;
    if (this.#debounce) clearTimeout(this.#debounce.timer);
    const wait = Math.max(0, Math.min(debounceMs, firstAt + maxDelayMs - now));
    this.#debounce = { timer: setTimeout(() => this.#flush(), wait), firstAt };
  }

  #flush(): void {
    this.#debounce = undefined;
    const types = [...this.#pending];
    this.#pending.clear();
    for (const t of types) this.#released.set(t, this.#store.version(t));
    for (const { subscriber } of this.#live.values()) {
      for (const t of types) subscriber.pump(t, this.#store.version(t));
    }
  }

  #disconnectStuck(ackTimeoutMs: number): void {
    const now = this.#now();
    for (const [id, l] of this.#live) {
      const age = l.subscriber.oldestInFlightMs(now);
      if (age !== undefined && age > ackTimeoutMs) {
        this.#log.warn('config subscriber did not answer in time; stream reset', {
          subscriber: describeSubscriber(l.subscriber.identity),
          streamId: id,
          waitedMs: age,
          bufferedBytes: l.subscriber.info().bufferedBytes,
        });
        this.#end(id, 'stuck', h2.NGHTTP2_CANCEL);
      }
    }
  }

  #end(id: number, reason: DisconnectReason, code: number): void {
    const l = this.#live.get(id);
    if (l === undefined) return;
    this.#live.delete(id);
    l.subscriber.close();
    this.#metrics?.connected.dec({ kind: l.subscriber.identity.kind });
    this.#metrics?.disconnects.inc({ reason });
    if (code === h2.NGHTTP2_NO_ERROR) l.stream.end();
    else l.stream.close(code);
  }

  #refuse(stream: ServerHttp2Stream, status: number, reason: string): void {
    this.#metrics?.refused.inc({ status: String(status) });
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(h2.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    stream.respond({
      [h2.HTTP2_HEADER_STATUS]: status,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'text/plain; charset=utf-8',
      ...(status === 405 && { allow: 'POST' }),
    });
    stream.end(`${reason}\n`);
    // The client may still be sending: stop it politely once the answer is out.
    stream.once('finish', () => stream.close(h2.NGHTTP2_NO_ERROR));
  }
}
