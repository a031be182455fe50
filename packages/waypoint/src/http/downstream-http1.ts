// The HTTP/1.1 edge: one node:http server (never listening; tunneled connections are handed to
// it) turns requests into ProxyRequests and writes ProxyResponses back. Malformed requests get
// node's 400 on that connection only (the early-deny path: no request exists yet). Upgrades
// (WebSocket...) go through the same stack; once the upstream answered, bytes are piped raw.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { forward } from './forward-body.ts';
import { rawHeaders } from './raw-headers.ts';
import { pipeBidirectional } from '@ambit/core/hbone/pipe';
import { endToEndHeaders } from './hop-by-hop.ts';
import type { ConnectionInfo, Handler, ProxyRequest, ProxyResponse } from './types.ts';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';

export interface DownstreamDeps {
  handler: Handler;
  snapshot(): WaypointSnapshot;
  onBadRequest?(err: Error): void;
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Error'}\r\n`;
}

async function writeRawResponse(socket: Duplex, res: ProxyResponse): Promise<void> {
  let head = statusLine(res.status);
  for (const [k, v] of Object.entries(res.headers))
    for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one}\r\n`;
  socket.write(`${head}connection: close\r\n\r\n`);
  if (res.body) for await (const c of res.body) socket.write(c as Buffer);
  socket.end();
}

export class Http1Downstream {
  readonly #server: Server;
  readonly #conns = new WeakMap<object, ConnectionInfo>();
  readonly #deps: DownstreamDeps;
  #draining = false;

  constructor(deps: DownstreamDeps) {
    this.#deps = deps;
    this.#server = createServer({
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 60_000,
    });
    this.#server.on(
      'request',
      (req: IncomingMessage, res: ServerResponse) => void this.#onRequest(req, res),
    );
    this.#server.on(
      'upgrade',
      (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        void this.#onUpgrade(req, socket, head),
    );
    this.#server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      deps.onBadRequest?.(err);
      if (socket.writable && err.code !== 'ECONNRESET')
        socket.end(
          'HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nbad request\n',
        );
      else socket.destroy();
    });
  }

  /** Serves one tunneled connection. */
  serve(socket: Duplex, conn: ConnectionInfo): void {
    this.#conns.set(socket, conn);
    this.#server.emit('connection', socket);
  }

  #request(req: IncomingMessage, conn: ConnectionInfo, signal: AbortSignal): ProxyRequest {
    return {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authority: req.headers.host ?? `${conn.target.ip}:${conn.target.port}`,
      headers: endToEndHeaders(req.headers),
      body: undefined,
      protocol: 'http1',
      grpc: false,
      conn,
      snapshot: this.#deps.snapshot(),
      signal,
      notes: { retries: 0, retriesDenied: 0 },
    };
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const conn = this.#conns.get(req.socket);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    const ac = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) ac.abort(new Error('client went away'));
      // Draining: a keep-alive connection ends after its response instead of going idle.
      else if (this.#draining) req.socket.end();
    });
    const pr = this.#request(req, conn, ac.signal);
    if (hasBody(req)) pr.body = req;
    else req.resume();
    const out = await this.#deps.handler(pr);
    if (this.#draining) res.shouldKeepAlive = false;
    res.writeHead(out.status, rawHeaders(out.headers));
    if (out.body === undefined) {
      res.end();
      return;
    }
    // No body bytes yet (long poll, server-sent events, a slow backend): send the head now rather
    // than with the first body write.
    if (out.body.readableLength === 0) res.flushHeaders();
    forward(out.body, res);
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const conn = this.#conns.get(socket);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    const ac = new AbortController();
    socket.once('close', () => ac.abort(new Error('client went away')));
    const pr = this.#request(req, conn, ac.signal);
    pr.upgrade = { protocol: String(req.headers.upgrade ?? ''), head };
    const out = await this.#deps.handler(pr);
    if (out.upgraded) {
      socket.write(out.upgraded.rawHead);
      await pipeBidirectional(socket, out.upgraded.stream);
      return;
    }
    await writeRawResponse(socket, out).catch(() => socket.destroy());
  }

  /** Shutdown, first step: idle keep-alive connections close now, busy ones after their response. */
  drain(): void {
    this.#draining = true;
    this.#server.closeIdleConnections();
  }

  close(): void {
    this.#server.close();
    this.#server.closeAllConnections();
  }
}
