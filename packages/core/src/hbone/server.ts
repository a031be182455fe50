import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  HboneBadRequestError,
  HboneDeniedError,
  HboneUpstreamError,
  MeshError,
} from '../errors.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import {
  CONNECTION_WINDOW_BYTES,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  MAX_FRAME_BYTES,
  MAX_SESSION_MEMORY_MB,
  SERVER_MAX_CONCURRENT_STREAMS,
  STREAM_RESET_BURST,
  STREAM_RESET_RATE,
  STREAM_WINDOW_BYTES,
} from './constants.ts';
import { pipeBidirectional } from './pipe.ts';
import { buildRequestContext, type HboneRequestContext } from './request-context.ts';
import { inspectServerSession, type ServerSessionInfo } from './server-session.ts';
import { SessionLiveness } from './session-liveness.ts';
import { serverTlsOptions } from './tls-config.ts';

export type { HboneRequestContext } from './request-context.ts';

export interface HboneServerOptions {
  /** The server's own identity (presented certificate, trusted roots). */
  identity: TlsIdentity;
  /** Clients must be in this trust domain. */
  trustDomain: string;
  /** Listen address (default 127.0.0.1:0). */
  host?: string;
  port?: number;
  /** Phase 2a: authorization. Return true, or a denial reason → 401 (the reason stays local). */
  authorize(ctx: HboneRequestContext): Promise<true | { deny: string }>;
  /**
   * Phase 2b: dial the target. Rejecting → 503. Resolve with a connected Duplex (usually
   * net.Socket), piped to the stream; or with an HboneStreamTaker, which gets the stream itself
   * after the 200 (an endpoint in this process: no socket pair and no pipe in between).
   */
  dial(ctx: HboneRequestContext, signal: AbortSignal): Promise<Duplex | HboneStreamTaker>;
  /** Called once per stream when it ends, for metrics and the access log. */
  onStreamEnd?(ctx: HboneRequestContext | undefined, result: HboneStreamResult): void;
  /** TLS handshake limit (default 10 s). */
  handshakeTimeoutMs?: number;
  /** A session with no stream for this long is closed with GOAWAY (default 5 min). */
  idleTimeoutMs?: number;
  /** H2 PING period for liveness (default 30 s; 0 disables). */
  pingIntervalMs?: number;
  /**
   * A listening socket made elsewhere, e.g. inside a pod netns by @ambit/netns socketInNetns:
   * `{ fd }`. When given, `host` and `port` are ignored and listen() adopts it (Node closes it).
   */
  listenSocket?: unknown;
}

/** What `dial` may resolve with to serve the tunnel's bytes itself, from the CONNECT stream. */
export interface HboneStreamTaker {
  takeStream(stream: Duplex): void;
}

function isTaker(d: Duplex | HboneStreamTaker): d is HboneStreamTaker {
  return typeof (d as Partial<HboneStreamTaker>).takeStream === 'function';
}

export interface HboneStreamResult {
  status: number;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
  error?: Error;
}

/** An error with the HTTP status it answers with; anything else answers 503 (dial) or 401 (authz). */
function statusOf(err: unknown, fallback: number): number {
  return err instanceof MeshError && 'status' in err && typeof err.status === 'number'
    ? err.status
    : fallback;
}

/**
 * The inbound side of HBONE (ztunnel port 15008, waypoints): TLS 1.3 + ALPN h2 with a required
 * client certificate from our trust domain, then one CONNECT stream per tunneled connection:
 *   build context (400) → authorize (401) → dial (503) → 200 → pipe bytes.
 * A bad stream never takes down its session; a bad session never takes down the server.
 */
export class HboneServer {
  readonly #opts: HboneServerOptions;
  readonly #server: Http2SecureServer;
  readonly #sessions = new Map<ServerHttp2Session, ServerSessionInfo>();
  readonly #liveness = new WeakMap<ServerHttp2Session, SessionLiveness>();
  #closing: Promise<void> | undefined;

  constructor(opts: HboneServerOptions) {
    this.#opts = opts;
    this.#server = createSecureServer({
      ...serverTlsOptions(opts.identity),
      allowHTTP1: false,
      handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      streamResetBurst: STREAM_RESET_BURST,
      streamResetRate: STREAM_RESET_RATE,
      settings: {
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxFrameSize: MAX_FRAME_BYTES,
        maxConcurrentStreams: SERVER_MAX_CONCURRENT_STREAMS,
        enablePush: false,
      },
    });
    // Accepted TCP sockets: no Nagle (tunneled small writes must not wait for an ACK).
    this.#server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    this.#server.on('session', (session: ServerHttp2Session) => this.#onSession(session));
    this.#server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      void this.#onStream(stream, headers);
    });
    // Failed handshakes (untrusted, expired, missing client certificate; timeouts) end here.
    // A listener here keeps Node from destroying the socket itself, so destroy it: the client then
    // sees the TLS alert and the close instead of waiting for its connect timeout.
    this.#server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
    this.#server.on('sessionError', () => {});
    this.#server.on('unknownProtocol', (socket: Socket) => socket.destroy());
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      const done = (): void => {
        this.#server.off('error', reject);
        const a = this.#server.address() as AddressInfo;
        resolve({ address: a.address, port: a.port });
      };
      const fd = (this.#opts.listenSocket as { fd?: unknown } | undefined)?.fd;
      if (typeof fd === 'number') this.#server.listen({ fd }, done);
      else this.#server.listen(this.#opts.port ?? 0, this.#opts.host ?? '127.0.0.1', done);
    });
  }

  /** Rotation: new handshakes present `identity` and trust its roots; live sessions are untouched. */
  updateIdentity(identity: TlsIdentity): void {
    this.#server.setSecureContext(serverTlsOptions(identity));
  }

  /** Sessions and streams currently open (for tests, metrics and the admin page). */
  stats(): { sessions: number; streams: number } {
    let streams = 0;
    for (const s of this.#sessions.keys()) streams += this.#liveness.get(s)?.streams ?? 0;
    return { sessions: this.#sessions.size, streams };
  }

  /**
   * Stops accepting, sends GOAWAY on every session so clients open no new stream here, lets live
   * streams finish for `graceMs` (default 10 s), then destroys what is left (streams are reset and
   * their upstream sockets get a TCP RST).
   */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.#sessions.keys()) s.destroy();
      }, opts.graceMs ?? 10_000);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.#sessions.keys()) s.close();
    });
    return this.#closing;
  }

  #onSession(session: ServerHttp2Session): void {
    session.on('error', () => {}); // surfaced per stream; the session just closes
    let info: ServerSessionInfo;
    try {
      info = inspectServerSession(session, this.#opts.trustDomain);
    } catch {
      // Wrong trust domain or unreadable identity: drop before any stream is read.
      session.destroy();
      return;
    }
    this.#sessions.set(session, info);
    session.once('close', () => this.#sessions.delete(session));
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
    this.#liveness.set(
      session,
      new SessionLiveness(session, {
        pingIntervalMs: this.#opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
        idleTimeoutMs: this.#opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        onIdle: () => session.close(),
      }),
    );
    if (this.#closing) session.close();
  }

  async #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const started = performance.now();
    stream.on('error', () => {}); // a stream's failure is reported through onStreamEnd only
    const info = this.#sessions.get(stream.session as ServerHttp2Session);
    const liveness = this.#liveness.get(stream.session as ServerHttp2Session);
    if (!info || !liveness) {
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
      return;
    }
    liveness.streamOpened();
    stream.once('close', () => liveness.streamClosed());

    // Phase 1: context. Failing here is the early-deny path (no context to log with).
    let ctx: HboneRequestContext;
    try {
      ctx = buildRequestContext(info, headers);
    } catch (err) {
      this.#earlyDeny(stream, err as Error, started);
      return;
    }

    // Phase 2: authorize, then dial. A client reset during either aborts the dial.
    const abort = new AbortController();
    const onClientGone = (): void => abort.abort(new Error('client reset the stream before 200'));
    stream.once('close', onClientGone);
    let upstream: Duplex | HboneStreamTaker;
    try {
      upstream = await this.#authorizeAndDial(ctx, abort.signal);
    } catch (err) {
      stream.off('close', onClientGone);
      this.#respondError(stream, ctx, err as Error, started);
      return;
    }
    stream.off('close', onClientGone);
    if (stream.destroyed || stream.closed) {
      if (!isTaker(upstream)) upstream.destroy();
      this.#end(ctx, {
        status: 499,
        started,
        error: new Error('client reset the stream before 200'),
      });
      return;
    }

    // Phase 3: 200. Phase 4: pipe until both directions end or one side resets (or the taker
    // serves the stream; its byte counts are its own).
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
    if (isTaker(upstream)) {
      stream.once('close', () => this.#end(ctx, { status: 200, started }));
      upstream.takeStream(stream);
      return;
    }
    const r = await pipeBidirectional(stream, upstream);
    this.#end(ctx, { status: 200, started, fromClient: r.aToB, toClient: r.bToA, error: r.error });
  }

  async #authorizeAndDial(
    ctx: HboneRequestContext,
    signal: AbortSignal,
  ): Promise<Duplex | HboneStreamTaker> {
    let verdict: true | { deny: string };
    try {
      verdict = await this.#opts.authorize(ctx);
    } catch (err) {
      // Fail closed: an authorizer that throws denies.
      throw new HboneDeniedError(`authorization failed for ${ctx.peerId}: ${String(err)}`, {
        cause: err,
      });
    }
    if (verdict !== true) {
      throw new HboneDeniedError(`${ctx.peerId} denied to ${ctx.authority}: ${verdict.deny}`);
    }
    try {
      return await this.#opts.dial(ctx, signal);
    } catch (err) {
      if (err instanceof HboneUpstreamError) throw err;
      throw new HboneUpstreamError(`dial ${ctx.authority} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** The one early-deny path: a request refused before its context exists (malformed → 400). */
  #earlyDeny(stream: ServerHttp2Stream, err: Error, started: number): void {
    const status = statusOf(err, new HboneBadRequestError('').status);
    this.#answer(stream, status);
    this.#end(undefined, { status, started, error: err });
  }

  #respondError(
    stream: ServerHttp2Stream,
    ctx: HboneRequestContext,
    err: Error,
    started: number,
  ): void {
    const status = statusOf(err, 503);
    this.#answer(stream, status);
    this.#end(ctx, { status, started, error: err });
  }

  #answer(stream: ServerHttp2Stream, status: number): void {
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: status }, { endStream: true });
    // The client may still be sending: RST_STREAM(NO_ERROR) once the answer is out (RFC 9113 §8.1).
    stream.close(h2.NGHTTP2_NO_ERROR);
  }

  #end(
    ctx: HboneRequestContext | undefined,
    r: { status: number; started: number; fromClient?: number; toClient?: number; error?: Error },
  ): void {
    const result: HboneStreamResult = {
      status: r.status,
      bytesFromClient: r.fromClient ?? 0,
      bytesToClient: r.toClient ?? 0,
      durationMs: performance.now() - r.started,
    };
    if (r.error) result.error = r.error;
    try {
      this.#opts.onStreamEnd?.(ctx, result);
    } catch {
      // An observer's bug must not break the data path.
    }
  }
}
