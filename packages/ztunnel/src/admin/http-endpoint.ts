// The one small HTTP server behind ztunnel's admin (15000), metrics (15020) and readiness (15021)
// listeners: a fixed table of GET routes, nothing else. node:http is enough; these endpoints
// serve a handful of requests a minute and must stay cheap on the data path's event loop.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
}

export type RouteHandler = (req: IncomingMessage) => HttpReply | Promise<HttpReply>;

export interface HttpEndpointOptions {
  host: string;
  port: number;
  /** Exact paths (query strings are ignored) → handlers. */
  routes: Readonly<Record<string, RouteHandler>>;
  /** Told about handler failures (which answer 500). */
  onError?: (err: unknown, path: string) => void;
}

export interface HttpEndpoint {
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes open (keep-alive) connections. */
  close(): Promise<void>;
}

export function textReply(status: number, body: string): HttpReply {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}

export function jsonReply(status: number, value: unknown): HttpReply {
  return {
    status,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(value, null, 2) + '\n',
  };
}

export async function listenHttpEndpoint(opts: HttpEndpointOptions): Promise<HttpEndpoint> {
  const routes = new Map(Object.entries(opts.routes));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const send = (r: HttpReply): void => {
      res.writeHead(r.status, {
        'content-type': r.contentType,
        'content-length': Buffer.byteLength(r.body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    };
    const handler = routes.get(path);
    if (!handler) {
      send(textReply(404, `no such endpoint ${path}; try ${[...routes.keys()].join(', ')}\n`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(textReply(405, `${req.method ?? '?'} not allowed; use GET\n`));
      return;
    }
    Promise.resolve()
      .then(() => handler(req))
      .then(send, (err: unknown) => {
        opts.onError?.(err, path);
        send(
          textReply(500, `${path} failed: ${err instanceof Error ? err.message : String(err)}\n`),
        );
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    address: addr.address,
    port: addr.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
