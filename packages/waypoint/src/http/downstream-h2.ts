// The HTTP/2 (prior knowledge) edge, gRPC included: one node:http2 server (never listening) gets
// the tunneled connections. Streams become ProxyRequests; responses go back with trailers
// (grpc-status) when the upstream sent them. A malformed stream is reset alone by nghttp2.

import {
  constants as h2,
  performServerHandshake,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { forward } from './forward-body.ts';
import { endToEndHeaders } from './hop-by-hop.ts';
import type { ConnectionInfo, ProxyRequest } from './types.ts';
import type { DownstreamDeps } from './downstream-http1.ts';
import { discardBody } from './discard-body.ts';

const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;

export class H2Downstream {
  readonly #deps: DownstreamDeps;
  readonly #sessions = new Set<ServerHttp2Session>();

  constructor(deps: DownstreamDeps) {
    this.#deps = deps;
  }

  /** Serves one tunneled connection as an HTTP/2 session. */
  serve(socket: Duplex, conn: ConnectionInfo): void {
    const session = performServerHandshake(socket, {
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    });
    this.#sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => this.#sessions.delete(session));
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW));
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      void this.#onStream(stream, headers, conn);
    });
  }

  async #onStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    conn: ConnectionInfo,
  ): Promise<void> {
    stream.on('error', () => {});
    const ac = new AbortController();
    stream.once('close', () => {
      if (!stream.writableFinished) ac.abort(new Error('client reset the stream'));
    });
    const contentType = String(headers['content-type'] ?? '');
    const req: ProxyRequest = {
      method: String(headers[h2.HTTP2_HEADER_METHOD] ?? 'GET'),
      path: String(headers[h2.HTTP2_HEADER_PATH] ?? '/'),
      authority: String(
        headers[h2.HTTP2_HEADER_AUTHORITY] ??
          headers.host ??
          `${conn.target.ip}:${conn.target.port}`,
      ),
      headers: endToEndHeaders(headers),
      body: stream.endAfterHeaders ? undefined : stream,
      protocol: 'h2',
      grpc: contentType.startsWith('application/grpc'),
      conn,
      snapshot: this.#deps.snapshot(),
      signal: ac.signal,
      notes: { retries: 0, retriesDenied: 0 },
    };
    if (req.body === undefined) stream.resume();
    const res = await this.#deps.handler(req);
    if (stream.destroyed || stream.closed) {
      discardBody(res.body);
      return;
    }
    const headersOut = { ...res.headers };
    delete headersOut.te;
    const trailers = res.trailers;
    stream.respond(
      { ...headersOut, [h2.HTTP2_HEADER_STATUS]: res.status },
      {
        endStream: res.body === undefined,
        waitForTrailers: res.body !== undefined && trailers !== undefined,
      },
    );
    if (trailers !== undefined)
      stream.once('wantTrailers', () => {
        void trailers.then((t) => {
          if (!stream.destroyed) stream.sendTrailers(t ?? {});
        });
      });
    if (res.body !== undefined) forward(res.body, stream);
  }

  close(): void {
    for (const s of this.#sessions) s.close();
  }
}
