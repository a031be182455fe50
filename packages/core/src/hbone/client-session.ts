import {
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import {
  HboneBadRequestError,
  HboneConnectError,
  HboneDeniedError,
  HboneProtocolError,
  HboneUpstreamError,
  type MeshError,
} from '../errors.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { dialSession, type DialSessionRequest, type DialedSession } from './dial-session.ts';
import { SessionLiveness } from './session-liveness.ts';

export interface StreamRequest {
  authority: string;
  headers?: { forwarded?: string; baggage?: string; traceparent?: string };
  signal?: AbortSignal;
}

/** Errors after which the same CONNECT may safely be sent on another session: nothing reached the
 * target (the session died or refused the stream before any response). */
export const retryableErrors = new WeakSet<Error>();

function statusError(status: number, authority: string, peer: string): MeshError {
  const msg = `${peer} answered ${status} to CONNECT ${authority}`;
  switch (status) {
    case 400:
      return new HboneBadRequestError(msg);
    case 401:
    case 403:
      return new HboneDeniedError(msg);
    case 502:
    case 503:
    case 504:
      return new HboneUpstreamError(msg);
    default:
      return new HboneProtocolError(msg);
  }
}

/**
 * One pooled client HTTP/2 session to one HBONE server, made with one source certificate.
 * The pool reserves stream slots synchronously (`tryReserve`) so that concurrent connects spread
 * over sessions even while this one is still handshaking.
 */
export class HboneClientSession {
  readonly source: TlsIdentity;
  readonly ready: Promise<DialedSession>;
  #dialed: DialedSession | undefined;
  #reserved = 0;
  #limit: number;
  /** False once draining (rotation), broken, idle-closed or the pool closed. */
  #usable = true;
  #liveness: SessionLiveness | undefined;
  readonly #onClosed: (s: HboneClientSession) => void;
  #closed = false;
  /** The pool's key for this session (source id, destination, expected peers). */
  readonly key: string;

  constructor(
    key: string,
    dial: DialSessionRequest,
    source: TlsIdentity,
    opts: { pingIntervalMs: number; idleTimeoutMs: number },
    onClosed: (s: HboneClientSession) => void,
  ) {
    this.key = key;
    this.source = source;
    this.#limit = dial.assumedMaxStreams;
    this.#onClosed = onClosed;
    this.ready = dialSession(dial).then(
      (d) => {
        this.#dialed = d;
        this.#adopt(d.session, dial.assumedMaxStreams, opts);
        this.#maybeClose(); // drained while handshaking
        return d;
      },
      (err: unknown) => {
        this.#markClosed();
        throw err;
      },
    );
    this.ready.catch(() => {}); // waiters get the rejection; nothing else must see it unhandled
  }

  get usable(): boolean {
    const h = this.#dialed?.session;
    return this.#usable && !(h && (h.destroyed || h.closed));
  }

  /** Slots reserved or in use. */
  get streams(): number {
    return this.#reserved;
  }

  /** True when more streams are reserved than the server allows (learnt from its SETTINGS). */
  get overCommitted(): boolean {
    return this.#reserved > this.#limit;
  }

  get peer(): DialedSession | undefined {
    return this.#dialed;
  }

  tryReserve(): boolean {
    if (!this.usable || this.#reserved >= this.#limit) return false;
    this.#reserved += 1;
    this.#liveness?.streamOpened();
    return true;
  }

  release(): void {
    this.#reserved -= 1;
    this.#liveness?.streamClosed();
    this.#maybeClose();
  }

  /** No new streams; live ones finish, then the session closes (certificate rotation, pool close). */
  drain(): void {
    this.#usable = false;
    this.#maybeClose();
  }

  destroy(): void {
    this.#usable = false;
    this.#dialed?.session.destroy();
    this.#markClosed();
  }

  /** Sends CONNECT on a slot reserved with tryReserve; resolves on 200 with the stream. */
  open(req: StreamRequest): Promise<ClientHttp2Stream> {
    const d = this.#dialed;
    if (!d) throw new Error('open() before ready');
    return new Promise<ClientHttp2Stream>((resolve, reject) => {
      const headers: OutgoingHttpHeaders = {
        [h2.HTTP2_HEADER_METHOD]: 'CONNECT',
        [h2.HTTP2_HEADER_AUTHORITY]: req.authority,
      };
      if (req.headers?.forwarded !== undefined) headers.forwarded = req.headers.forwarded;
      if (req.headers?.baggage !== undefined) headers.baggage = req.headers.baggage;
      if (req.headers?.traceparent !== undefined) headers.traceparent = req.headers.traceparent;
      let stream: ClientHttp2Stream;
      try {
        stream = d.session.request(headers, { endStream: false });
      } catch (err) {
        this.release();
        const e = new HboneConnectError(`cannot open a stream: ${(err as Error).message}`, {
          cause: err,
        });
        retryableErrors.add(e);
        reject(e);
        return;
      }
      let answered = false;
      // The caller owns the stream after 200 and should listen for 'error'; this no-op keeps an
      // unlistened reset from crashing the process.
      stream.on('error', () => {});
      stream.once('close', () => {
        this.release();
        if (!answered) {
          answered = true;
          req.signal?.removeEventListener('abort', onAbort);
          const code = stream.rstCode ?? 0;
          const e = new HboneConnectError(
            `stream to ${req.authority} via ${d.peerId} closed before the server answered` +
              (code ? ` (RST_STREAM code ${code})` : ''),
          );
          const sessionDied = d.session.destroyed || d.session.closed;
          if (sessionDied || code === h2.NGHTTP2_REFUSED_STREAM) retryableErrors.add(e);
          reject(e);
        }
      });
      const onAbort = (): void => {
        if (answered) return;
        answered = true;
        stream.close(h2.NGHTTP2_CANCEL);
        reject(
          new HboneConnectError(`CONNECT ${req.authority} aborted`, { cause: req.signal?.reason }),
        );
      };
      if (req.signal?.aborted) {
        onAbort();
        return;
      }
      req.signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('response', (h: IncomingHttpHeaders) => {
        if (answered) return;
        answered = true;
        req.signal?.removeEventListener('abort', onAbort);
        const status = Number(h[h2.HTTP2_HEADER_STATUS]);
        if (status === 200) {
          resolve(stream);
          return;
        }
        stream.close(h2.NGHTTP2_CANCEL);
        reject(statusError(status, req.authority, d.peerId));
      });
    });
  }

  #adopt(
    session: ClientHttp2Session,
    assumed: number,
    opts: { pingIntervalMs: number; idleTimeoutMs: number },
  ): void {
    const updateLimit = (): void => {
      const peerMax = session.remoteSettings.maxConcurrentStreams ?? assumed;
      this.#limit = Math.min(assumed, peerMax);
    };
    updateLimit();
    session.on('remoteSettings', updateLimit);
    session.on('error', () => {}); // the session's streams carry the failure; we just stop using it
    // GOAWAY: the server wants no new streams here; live ones finish.
    session.once('goaway', () => {
      this.#usable = false;
    });
    session.once('close', () => this.#markClosed());
    this.#liveness = new SessionLiveness(session, {
      pingIntervalMs: opts.pingIntervalMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      onIdle: () => this.drain(),
    });
    for (let i = 0; i < this.#reserved; i++) this.#liveness.streamOpened();
  }

  #maybeClose(): void {
    if (this.#usable || this.#reserved > 0) return;
    const s = this.#dialed?.session;
    if (s && !s.closed && !s.destroyed) s.close();
  }

  #markClosed(): void {
    this.#usable = false;
    if (this.#closed) return;
    this.#closed = true;
    this.#onClosed(this);
  }
}
