import type { ClientHttp2Stream } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import { HboneConnectError } from '../errors.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { HboneClientSession, retryableErrors } from './client-session.ts';
import type { DialSessionRequest } from './dial-session.ts';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_STREAMS_PER_SESSION,
  DEFAULT_PING_INTERVAL_MS,
} from './constants.ts';

export interface HboneDialRequest {
  /** Where the HBONE server listens (pod IP:15008 or a waypoint). */
  address: { host: string; port: number };
  /** :authority, "ip:port" of the real target. */
  authority: string;
  /** Our client certificate. */
  source: TlsIdentity;
  /** The server's URI SAN must be one of these. */
  expectedPeers: readonly SpiffeId[];
  headers?: { forwarded?: string; baggage?: string; traceparent?: string };
  signal?: AbortSignal;
  /**
   * The workload IP the connection comes from. When set, it is part of the pool key (sessions are
   * never shared between source addresses) and the session's TCP socket is bound to it
   * (`localAddress`), so the server's TCP peer address is the source workload's IP.
   */
  sourceAddress?: string;
}

export interface HbonePoolOptions {
  /** Streams per session before another is opened; default 100, never above the peer's limit. */
  maxStreamsPerSession?: number;
  /** A session without streams for this long is closed; default 5 min. */
  idleSessionTimeoutMs?: number;
  /** TCP + TLS + first SETTINGS; default 10 s. */
  connectTimeoutMs?: number;
  /** H2 PING period; default 30 s, 0 disables. */
  pingIntervalMs?: number;
  /**
   * Creates the TCP socket of a new session (in-pod mode: inside the source pod's netns, with
   * SO_MARK). `source.sourceAddress` is the request's sourceAddress: bind to it when set.
   * Default: net.connect with `localAddress: sourceAddress`.
   */
  createSocket?(
    address: { host: string; port: number },
    source: { sourceAddress?: string },
  ): Socket;
}

/** What the client verified about the server of an open tunnel. */
export interface HboneTunnelInfo {
  /** The server's SPIFFE ID (its URI SAN, one of expectedPeers). */
  peerId: SpiffeId;
  /** Negotiated TLS version, always 'TLSv1.3'. */
  tlsVersion: string;
  /** Negotiated ALPN, always 'h2'. */
  alpn: string;
}

const tunnels = new WeakMap<Duplex, HboneTunnelInfo>();

/** The verified server identity and TLS parameters of a Duplex returned by HbonePool.connect. */
export function tunnelInfo(stream: Duplex): HboneTunnelInfo | undefined {
  return tunnels.get(stream);
}

/** `p`, or a rejection as soon as `signal` aborts (the shared session keeps dialing for others). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void =>
      reject(new HboneConnectError('HBONE connect aborted', { cause: signal.reason }));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const defaultCreateSocket = (
  a: { host: string; port: number },
  source: { sourceAddress?: string },
): Socket =>
  netConnect({
    host: a.host,
    port: a.port,
    noDelay: true,
    ...(source.sourceAddress === undefined ? {} : { localAddress: source.sourceAddress }),
  });

/**
 * Outbound HBONE: one CONNECT stream per tunneled connection, multiplexed on pooled HTTP/2
 * sessions keyed by (source identity, source address when given, destination address, expected
 * destination identities).
 * - A session takes at most `maxStreamsPerSession` streams (and never more than the server's
 *   SETTINGS_MAX_CONCURRENT_STREAMS); then the pool opens another.
 * - Sessions idle for `idleSessionTimeoutMs` are closed; broken ones (error, GOAWAY, failed PING,
 *   peer gone) leave the pool at once and are never reused.
 * - When the source certificate rotates (same id, new certChain), new streams go to a new session;
 *   sessions with the older certificate take no new stream and close when their last one ends.
 * - A CONNECT that dies with its (reused) session before any answer is retried once on a new one.
 */
export class HbonePool {
  readonly #maxStreams: number;
  readonly #idleMs: number;
  readonly #connectTimeoutMs: number;
  readonly #pingMs: number;
  readonly #createSocket: DialSessionRequest['createSocket'];
  readonly #byKey = new Map<string, HboneClientSession[]>();
  readonly #all = new Set<HboneClientSession>();
  readonly #contexts = new WeakMap<TlsIdentity, SecureContext>();
  #closed = false;
  #allClosed: (() => void) | undefined;

  constructor(opts: HbonePoolOptions = {}) {
    this.#maxStreams = opts.maxStreamsPerSession ?? DEFAULT_MAX_STREAMS_PER_SESSION;
    this.#idleMs = opts.idleSessionTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#pingMs = opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.#createSocket = (a, src) =>
      opts.createSocket ? opts.createSocket(a, src) : defaultCreateSocket(a, src);
  }

  /**
   * Opens a tunnel. Resolves once the server answered 200; the Duplex carries the tunneled bytes,
   * `end()` half-closes (END_STREAM), `destroy()` resets (RST_STREAM). Rejects with a MeshError:
   * AMBIT_HBONE_DENIED (401), AMBIT_HBONE_UPSTREAM (503), AMBIT_HBONE_BAD_REQUEST (400),
   * AMBIT_HBONE_PEER_IDENTITY, AMBIT_HBONE_CONNECT, AMBIT_HBONE_PROTOCOL.
   */
  async connect(req: HboneDialRequest): Promise<Duplex> {
    const key = [
      req.source.id,
      req.sourceAddress ?? '',
      `${req.address.host}:${req.address.port}`,
      req.expectedPeers.join(','),
    ].join('\n');
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new HboneConnectError('HBONE pool is closed');
      if (req.signal?.aborted) {
        throw new HboneConnectError('HBONE connect aborted', { cause: req.signal.reason });
      }
      const { session, fresh } = this.#acquire(key, req);
      try {
        await (req.signal ? untilAborted(session.ready, req.signal) : session.ready);
      } catch (err) {
        session.release();
        throw err;
      }
      if (session.overCommitted) {
        // The server allows fewer streams than we assumed while it was handshaking: go elsewhere.
        session.release();
        continue;
      }
      try {
        const stream = await this.#open(session, req);
        const peer = session.peer;
        if (peer)
          tunnels.set(stream, {
            peerId: peer.peerId,
            tlsVersion: peer.tlsVersion,
            alpn: peer.alpn,
          });
        return stream;
      } catch (err) {
        // A reused session may have died under us before we noticed: try a fresh one.
        if (!fresh && attempt < 2 && retryableErrors.has(err as Error)) continue;
        throw err;
      }
    }
  }

  /** Sessions held (including ones draining after rotation) and streams reserved or open. */
  stats(): { sessions: number; streams: number } {
    let streams = 0;
    for (const s of this.#all) streams += s.streams;
    return { sessions: this.#all.size, streams };
  }

  /**
   * Stops new connects; sessions finish their live streams (up to `graceMs`, default 10 s) and
   * close; what is left is then destroyed.
   */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.#closed = true;
    this.#byKey.clear();
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.#all) s.destroy();
      }, opts.graceMs ?? 10_000);
      this.#allClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      for (const s of this.#all) s.drain();
    });
  }

  #open(session: HboneClientSession, req: HboneDialRequest): Promise<ClientHttp2Stream> {
    const r: Parameters<HboneClientSession['open']>[0] = { authority: req.authority };
    if (req.headers) r.headers = req.headers;
    if (req.signal) r.signal = req.signal;
    return session.open(r);
  }

  /** Picks a session with a free slot for this key and certificate, or starts one; reserves a slot. */
  #acquire(key: string, req: HboneDialRequest): { session: HboneClientSession; fresh: boolean } {
    let list = this.#byKey.get(key);
    if (list) {
      let hasUnusable = false;
      for (const s of list) {
        if (s.source.certChain !== req.source.certChain) {
          // Rotation: a newer certificate retires sessions made with an older one.
          if (req.source.notBefore >= s.source.notBefore) s.drain();
          else continue;
        }
        if (!s.usable) {
          hasUnusable = true;
          continue;
        }
        if (s.tryReserve()) return { session: s, fresh: false };
      }
      if (hasUnusable) {
        list = list.filter((s) => s.usable);
        this.#byKey.set(key, list);
      }
    } else {
      list = [];
      this.#byKey.set(key, list);
    }
    const session = new HboneClientSession(
      key,
      {
        address: req.address,
        ...(req.sourceAddress === undefined ? {} : { sourceAddress: req.sourceAddress }),
        secureContext: this.#secureContext(req.source),
        expectedPeers: req.expectedPeers,
        createSocket: this.#createSocket,
        timeoutMs: this.#connectTimeoutMs,
        assumedMaxStreams: this.#maxStreams,
      },
      req.source,
      { pingIntervalMs: this.#pingMs, idleTimeoutMs: this.#idleMs },
      (s) => this.#forget(s),
    );
    session.tryReserve();
    list.push(session);
    this.#all.add(session);
    return { session, fresh: true };
  }

  #forget(s: HboneClientSession): void {
    this.#all.delete(s);
    const list = this.#byKey.get(s.key);
    if (list) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#byKey.delete(s.key);
    }
    if (this.#all.size === 0) this.#allClosed?.();
  }

  /** One parsed TLS context per identity object (PEM parsing is too slow for every session). */
  #secureContext(identity: TlsIdentity): SecureContext {
    let ctx = this.#contexts.get(identity);
    if (!ctx) {
      ctx = createSecureContext({
        key: identity.key,
        cert: identity.certChain,
        ca: identity.roots,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
      });
      this.#contexts.set(identity, ctx);
    }
    return ctx;
  }
}
