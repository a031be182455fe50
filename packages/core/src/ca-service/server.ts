import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import {
  CaForbiddenError,
  CaInternalError,
  CaRequestError,
  CaRequestTooLargeError,
  CaRouteError,
  CaUnauthenticatedError,
  CsrRefusedError,
  MeshError,
} from '../errors.ts';
import type { CertificateAuthority } from '../identity/ca.ts';
import { splitCertificates } from '../identity/pem.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import {
  CA_PATH,
  MAX_REQUEST_BYTES,
  decodeCertificateRequest,
  type CertificateRequest,
  type WireCaError,
  type WireCertificateResponse,
} from './protocol.ts';

/** What the authenticator may look at besides the token and the requested identity. */
export interface CaRequestInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  headers: IncomingHttpHeaders;
}

export type CaAuthDecision =
  { allowed: true } | { allowed: false; status: 401 | 403; reason: string };

/**
 * Decides whether the bearer of `token` may have a certificate for `requestedId`. The controller
 * plugs in TokenReview + "a pod with that ServiceAccount runs on the caller's node". A rejection
 * (throw) answers 500, which clients retry.
 */
export type CaAuthenticator = (
  token: string,
  requestedId: SpiffeId,
  request: CaRequestInfo,
) => Promise<CaAuthDecision>;

/** One finished request, for metrics and logs. */
export interface CaRequestResult {
  status: number;
  /** 'OK' on success, else the error code sent. */
  code: string;
  identity?: SpiffeId;
  /** The error sent (its message is what the client got), when not 200. */
  error?: MeshError;
}

export interface CaServiceOptions {
  ca: CertificateAuthority;
  authenticate: CaAuthenticator;
  /** Body size limit (default MAX_REQUEST_BYTES). */
  maxBodyBytes?: number;
  /** The body must arrive within this (default 10 s); a slow sender's stream is reset. */
  bodyTimeoutMs?: number;
  /** Called once per request that got an answer. */
  onResult?(result: CaRequestResult): void;
}

export interface CaServiceCounters {
  /** Certificates signed. */
  signed: number;
  /** Refused or failed requests, by the error code sent. */
  refused: Record<string, number>;
}

/** An error with its wire status; anything that is not one of ours is a 500. */
function toWireError(err: unknown): { status: number; error: MeshError } {
  if (err instanceof MeshError && 'status' in err && typeof err.status === 'number') {
    return { status: err.status, error: err };
  }
  if (err instanceof CsrRefusedError || err instanceof CaRequestError) {
    return { status: 400, error: err };
  }
  return {
    status: 500,
    error: new CaInternalError(`internal error: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    }),
  };
}

/** Phase 1a: method, path, content type and the bearer token, before any body is read. */
function checkHeaders(headers: IncomingHttpHeaders): string {
  const path = (headers[':path'] ?? '').split('?')[0];
  if (path !== CA_PATH) throw new CaRouteError(404, `no such path; the CA serves POST ${CA_PATH}`);
  if (headers[':method'] !== 'POST') {
    throw new CaRouteError(405, `method ${headers[':method']} not allowed; use POST`);
  }
  const type = headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new CaRequestError('content-type must be application/json');
  }
  const m = /^Bearer +([^\s]+)\s*$/i.exec(headers.authorization ?? '');
  if (!m?.[1]) {
    throw new CaUnauthenticatedError('missing "authorization: Bearer <ServiceAccount token>"');
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_REQUEST_BYTES) {
    throw new CaRequestTooLargeError(`request body over ${MAX_REQUEST_BYTES} bytes`);
  }
  return m[1];
}

/** Phase 1b: reads the body up to `max` bytes within `timeoutMs`. */
function readBody(stream: ServerHttp2Stream, max: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      done();
      stream.close(h2.NGHTTP2_CANCEL);
      reject(new CaRequestError(`request body not received within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        done();
        stream.pause();
        reject(new CaRequestTooLargeError(`request body over ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onClose = () => {
      done();
      reject(new CaRequestError('stream closed before the body was complete'));
    };
    function done() {
      clearTimeout(timer);
      stream.off('data', onData).off('end', onEnd).off('close', onClose);
    }
    stream.on('data', onData).on('end', onEnd).on('close', onClose);
  });
}

function send(stream: ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: Record<string, string | number> = {
    ':status': status,
    'content-type': 'application/json',
    'cache-control': 'no-store',
  };
  if (status === 405) headers.allow = 'POST';
  stream.respond(headers);
  stream.end(JSON.stringify(body));
  // A refused request may still be sending (e.g. an oversized body): tell it to stop, politely.
  if (status !== 200) stream.once('finish', () => stream.close(h2.NGHTTP2_NO_ERROR));
}

/**
 * The CA behind `POST /ambit.ca.v1/certificates`. Mount `handleStream` on any HTTP/2 server (the
 * controller's 15012), or use `startCaServer`. One request runs:
 *   headers (404/405/400/401/413) → body, bounded (413/400) → authenticate (401/403)
 *   → validate CSR and sign (400) → 200 with the chain.
 * Errors reach the wire only in `handleStream`; a bad request never affects another stream.
 */
export class CaService {
  readonly #opts: CaServiceOptions;
  readonly #counters: CaServiceCounters = { signed: 0, refused: {} };

  constructor(opts: CaServiceOptions) {
    this.#opts = opts;
  }

  /** Counters since start (a copy). */
  counters(): CaServiceCounters {
    return { signed: this.#counters.signed, refused: { ...this.#counters.refused } };
  }

  /** The http2 'stream' handler: `server.on('stream', service.handleStream)`. Never throws. */
  readonly handleStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    // A client reset or a write after close must not become an uncaught error.
    stream.on('error', () => {});
    let id: SpiffeId | undefined;
    this.#run(stream, headers, (req) => (id = req.id)).then(
      (response) => {
        this.#counters.signed++;
        send(stream, 200, response);
        this.#report({ status: 200, code: 'OK', ...(id && { identity: id }) });
      },
      (err: unknown) => {
        const { status, error } = toWireError(err);
        this.#counters.refused[error.code] = (this.#counters.refused[error.code] ?? 0) + 1;
        const body: WireCaError = { code: error.code, message: error.message };
        send(stream, status, body);
        this.#report({ status, code: error.code, error, ...(id && { identity: id }) });
      },
    );
  };

  async #run(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    decoded: (req: CertificateRequest) => void,
  ): Promise<WireCertificateResponse> {
    const token = checkHeaders(headers);
    const text = await readBody(
      stream,
      this.#opts.maxBodyBytes ?? MAX_REQUEST_BYTES,
      this.#opts.bodyTimeoutMs ?? 10_000,
    );
    const req = decodeCertificateRequest(text);
    decoded(req);
    const socket = stream.session?.socket;
    const decision = await this.#opts.authenticate(token, req.id, {
      remoteAddress: socket?.remoteAddress,
      remotePort: socket?.remotePort,
      headers,
    });
    if (!decision.allowed) {
      const why = `not allowed a certificate for ${req.id}: ${decision.reason}`;
      throw decision.status === 403 ? new CaForbiddenError(why) : new CaUnauthenticatedError(why);
    }
    const issued = await this.#opts.ca.sign({
      csrPem: req.csrPem,
      id: req.id,
      ...(req.ttlMs !== undefined && { ttlMs: req.ttlMs }),
    });
    return {
      certChain: splitCertificates(issued.certChain),
      roots: splitCertificates(issued.roots),
      notAfter: issued.notAfter.toISOString(),
    };
  }

  #report(result: CaRequestResult): void {
    try {
      this.#opts.onResult?.(result);
    } catch {
      // A metrics or log callback must not break the CA.
    }
  }
}

export interface CaServerOptions extends CaServiceOptions {
  /** The server's certificate (PEM chain) and key; clients verify it against their CA roots. */
  tls: { key: string; cert: string };
  /** Default 127.0.0.1:0. */
  host?: string;
  port?: number;
}

export interface CaServer {
  address: string;
  port: number;
  service: CaService;
  /** Rotates the server certificate for new connections. */
  updateTls(tls: { key: string; cert: string }): void;
  /** Stops accepting and closes every session. */
  close(): Promise<void>;
}

function secureOptions(t: { key: string; cert: string }) {
  return {
    key: t.key,
    cert: t.cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
  } as const;
}

/** A standalone CA server (TLS 1.3, ALPN h2, no HTTP/1) around a CaService; development and tests. */
export async function startCaServer(opts: CaServerOptions): Promise<CaServer> {
  const service = new CaService(opts);
  const server: Http2SecureServer = createSecureServer({
    ...secureOptions(opts.tls),
    allowHTTP1: false,
    settings: { enablePush: false, maxConcurrentStreams: 100 },
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('stream', service.handleStream);
  server.on('tlsClientError', () => {});
  server.on('sessionError', () => {});
  server.on('unknownProtocol', (socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.address,
    port: a.port,
    service,
    updateTls: (tls) => server.setSecureContext(secureOptions(tls)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
