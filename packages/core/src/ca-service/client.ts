import { readFile } from 'node:fs/promises';
import {
  connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { PeerCertificate } from 'node:tls';
import { CaRefusedError, CaTokenError, CaUnavailableError } from '../errors.ts';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import {
  CA_PATH,
  MAX_RESPONSE_BYTES,
  decodeCaError,
  decodeCertificateResponse,
  encodeCertificateRequest,
} from './protocol.ts';

/** Where the projected ServiceAccount token comes from; read again for every request (it rotates). */
export type TokenSource = { file: string } | (() => string | Promise<string>);

export interface CaClientOptions {
  /** CA address, e.g. the controller's host and port 15012. */
  host: string;
  port: number;
  /** PEM bundle (file contents) the CA server's certificate must chain to. */
  rootsPem: string;
  /** TLS SNI and, unless `serverId` is given, the name the server certificate must carry. Default `host`. */
  servername?: string;
  /**
   * Verify the server by SPIFFE ID instead of host name: its certificate must carry exactly this
   * URI SAN (a controller whose serving certificate comes from the mesh CA has no DNS name).
   */
  serverId?: SpiffeId;
  token: TokenSource;
  /** Requested certificate lifetime; default the CA's (24 h). */
  ttlMs?: number;
  /** Whole request, connection included (default 15 s). */
  timeoutMs?: number;
  /** Close the HTTP/2 session after this long without requests (default 60 s). */
  idleTimeoutMs?: number;
}

export interface RequestCertificateOptions {
  ttlMs?: number;
  signal?: AbortSignal;
}

interface Answer {
  status: number;
  body: string;
}

function unavailable(message: string, cause?: unknown): CaUnavailableError {
  return new CaUnavailableError(message, cause === undefined ? undefined : { cause });
}

async function readToken(source: TokenSource): Promise<string> {
  let token: string;
  try {
    token = typeof source === 'function' ? await source() : await readFile(source.file, 'utf8');
  } catch (err) {
    const where = typeof source === 'function' ? 'token supplier' : `token file ${source.file}`;
    throw new CaTokenError(`cannot read the ServiceAccount token (${where}): ${String(err)}`, {
      cause: err,
    });
  }
  token = token.trim();
  if (token === '' || /\s/.test(token)) {
    throw new CaTokenError('the ServiceAccount token is empty or holds whitespace');
  }
  return token;
}

/**
 * ztunnel's side of the CA protocol: for each identity, a fresh ECDSA P-256 key and CSR, sent with
 * the node's ServiceAccount token over one reused HTTP/2 TLS 1.3 session (reopened when it breaks).
 * The answer is verified (chain, SAN, key) before it is returned.
 */
export class CaClient {
  readonly #opts: CaClientOptions;
  #session: ClientHttp2Session | undefined;

  constructor(opts: CaClientOptions) {
    this.#opts = opts;
  }

  /** The CertManager issuer backed by this client. */
  readonly issuer = (id: SpiffeId): Promise<TlsIdentity> => this.requestCertificate(id);

  /**
   * Gets a certificate for `id`. Rejects with CaRefusedError (4xx, do not retry the same request
   * soon), CaUnavailableError (network, TLS, timeout, 5xx: retry with backoff), CaTokenError, or
   * CertChainError (the answer does not verify).
   */
  async requestCertificate(
    id: SpiffeId,
    opts: RequestCertificateOptions = {},
  ): Promise<TlsIdentity> {
    const token = await readToken(this.#opts.token);
    const { keyPem, csrPem } = await createCsr(id);
    const ttlMs = opts.ttlMs ?? this.#opts.ttlMs;
    const body = encodeCertificateRequest({ id, csrPem, ...(ttlMs !== undefined && { ttlMs }) });
    const answer = await this.#post(token, body, opts.signal);
    if (answer.status === 200) {
      const res = decodeCertificateResponse(answer.body, (m) =>
        unavailable(`CA answered 200 with an unusable body: ${m}`),
      );
      return buildTlsIdentity({ id, keyPem, certChain: res.certChain, roots: res.roots });
    }
    const err = decodeCaError(answer.body);
    const said = err ? `${err.code}: ${err.message}` : `(no error body)`;
    if (answer.status >= 400 && answer.status < 500) {
      throw new CaRefusedError(
        answer.status,
        err?.code ?? `HTTP_${answer.status}`,
        `CA refused a certificate for ${id} (${answer.status} ${said})`,
      );
    }
    throw unavailable(`CA failed to issue a certificate for ${id} (${answer.status} ${said})`);
  }

  /** Closes the session; later requests open a new one. */
  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  #connect(): ClientHttp2Session {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return s;
    const { host, port, rootsPem, servername, serverId } = this.#opts;
    const session = connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      ca: rootsPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      ...(servername !== undefined && { servername }),
      ...(serverId !== undefined && {
        checkServerIdentity: (_name: string, cert: PeerCertificate) => {
          try {
            const got = spiffeIdFromPeerCertificate(cert);
            if (got !== serverId) return new Error(`CA server is ${got}, expected ${serverId}`);
          } catch (err) {
            return err as Error;
          }
          return undefined;
        },
      }),
    });
    session.setMaxListeners(0); // one 'error' listener per request in flight
    session.on('error', () => {}); // surfaced through the request that is waiting
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.setTimeout(this.#opts.idleTimeoutMs ?? 60_000, () => session.close());
    session.unref(); // a cached session must not keep the process alive
    this.#session = session;
    return session;
  }

  #post(token: string, body: string, signal: AbortSignal | undefined): Promise<Answer> {
    const { host, port } = this.#opts;
    const timeoutMs = this.#opts.timeoutMs ?? 15_000;
    const where = `${host}:${port}`;
    return new Promise<Answer>((resolve, reject) => {
      const session = this.#connect();
      let settled = false;
      let stream: ClientHttp2Stream | undefined;
      const finish = (err: Error | undefined, answer?: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        session.off('error', onSessionError);
        if (err) {
          stream?.close(h2.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(answer as Answer);
      };
      const onSessionError = (err: Error) => {
        if (this.#session === session) this.#session = undefined;
        session.destroy();
        finish(unavailable(`cannot reach the CA at ${where}: ${err.message}`, err));
      };
      const onAbort = () => finish(unavailable('CA request aborted', signal?.reason));
      const timer = setTimeout(() => {
        // A session that never connected is dropped so the next request dials afresh.
        if (session.connecting) {
          if (this.#session === session) this.#session = undefined;
          session.destroy();
        }
        finish(unavailable(`CA at ${where} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort);
      session.on('error', onSessionError);
      try {
        stream = session.request({
          ':method': 'POST',
          ':path': CA_PATH,
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
        });
      } catch (err) {
        // The session closed between the check and the request.
        if (this.#session === session) this.#session = undefined;
        return finish(unavailable(`cannot reach the CA at ${where}`, err));
      }
      stream.on('error', (err: Error) => {
        // A failed connect or TLS check cancels the pending stream; the reason is its cause.
        const reason = err.cause instanceof Error ? err.cause : err;
        finish(unavailable(`cannot reach the CA at ${where}: ${reason.message}`, err));
      });
      let status = 0;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (headers: IncomingHttpHeaders) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          finish(unavailable(`CA answer over ${MAX_RESPONSE_BYTES} bytes`));
        } else chunks.push(chunk);
      });
      stream.on('end', () =>
        finish(undefined, { status, body: Buffer.concat(chunks).toString('utf8') }),
      );
      stream.on('close', () => {
        if (status === 0) {
          finish(unavailable(`CA at ${where} closed the request without answering`));
        } else {
          finish(undefined, { status, body: Buffer.concat(chunks).toString('utf8') });
        }
      });
      stream.end(body);
    });
  }
}
