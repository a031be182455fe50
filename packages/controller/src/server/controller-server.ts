// The controller's port 15012 (DESIGN.md "Components and ports"): TLS 1.3, ALPN h2 only, HTTP/2,
// serving two routes on one listener:
//   POST /ambit.config.v1/stream       → ConfigStreamServer (config to ztunnels and waypoints)
//   POST /ambit.ca.v1/certificates     → CaService (CSRs signed for workload identities)
// anything else → 404. Neither route needs a client certificate: callers authenticate with their
// ServiceAccount token. Every session is PINGed; one that leaves a PING unanswered until the next is
// dropped, so config streams to dead peers (a node gone without a FIN) do not linger.

import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { CaService } from '@ambit/core/ca-service/server';
import { CA_PATH } from '@ambit/core/ca-service/protocol';
import { createLogger, type Logger } from '@ambit/core/log';
import { CONFIG_STREAM_PATH, CONFIG_STREAM_PORT } from '@ambit/core/mesh/stream-client';
import type { ConfigStreamServer } from '../stream/config-stream-server.ts';

export interface ControllerServerOptions {
  /** The controller's serving certificate (PEM chain, leaf first) and key. */
  tls: { key: string; cert: string };
  /** Default 0.0.0.0:15012. */
  host?: string;
  port?: number;
  configStream: ConfigStreamServer;
  /** The CA; without it the CA path answers 404 (e.g. a CA run elsewhere). */
  ca?: CaService;
  /** HTTP/2 PING interval per session; 0 turns it off. Default 30 s. */
  pingIntervalMs?: number;
  log?: Logger;
}

function secureOptions(tls: { key: string; cert: string }) {
  return {
    key: tls.key,
    cert: tls.cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
  } as const;
}

export class ControllerServer {
  readonly #o: ControllerServerOptions;
  readonly #server: Http2SecureServer;
  readonly #log: Logger;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #sockets = new Set<Socket>();

  constructor(opts: ControllerServerOptions) {
    this.#o = opts;
    this.#log = opts.log ?? createLogger({ fields: { component: 'controller-server' } });
    this.#server = createSecureServer({
      ...secureOptions(opts.tls),
      allowHTTP1: false,
      settings: { enablePush: false, maxConcurrentStreams: 100 },
    });
    this.#server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('session', (s) => this.#onSession(s));
    this.#server.on('stream', (stream, headers) => this.#route(stream, headers));
    this.#server.on('tlsClientError', () => {});
    this.#server.on('sessionError', () => {});
    this.#server.on('unknownProtocol', (socket: Socket) => socket.destroy());
  }

  async listen(): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port ?? CONFIG_STREAM_PORT, this.#o.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address() as AddressInfo;
    this.#log.info('controller listening', { address: a.address, port: a.port });
    return { address: a.address, port: a.port };
  }

  /** Rotates the serving certificate: new handshakes use it, live sessions are untouched. */
  updateTls(tls: { key: string; cert: string }): void {
    this.#server.setSecureContext(secureOptions(tls));
  }

  /** Sessions open now. */
  sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Stops accepting, asks every session to finish (GOAWAY), and destroys what is left after
   * `graceMs` (default 0: at once; config streams never finish on their own).
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sessions) if (!s.closed) s.close();
    const grace = opts.graceMs ?? 0;
    const timer = setTimeout(() => {
      for (const s of this.#sessions) s.destroy();
      for (const socket of this.#sockets) socket.destroy();
    }, grace);
    await closed;
    clearTimeout(timer);
  }

  #route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[h2.HTTP2_HEADER_PATH] ?? '').split('?')[0];
    if (path === CONFIG_STREAM_PATH) {
      this.#o.configStream.handleStream(stream, headers);
    } else if (path === CA_PATH && this.#o.ca !== undefined) {
      this.#o.ca.handleStream(stream, headers);
    } else {
      stream.on('error', () => {});
      stream.respond({
        [h2.HTTP2_HEADER_STATUS]: 404,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: 'text/plain; charset=utf-8',
      });
      stream.end(`no such path; this port serves POST ${CONFIG_STREAM_PATH} and POST ${CA_PATH}\n`);
    }
  }

  #onSession(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    session.on('error', () => {});
    const every = this.#o.pingIntervalMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    if (every > 0) {
      let outstanding = false;
      timer = setInterval(() => {
        if (session.closed || session.destroyed) return;
        if (outstanding) {
          this.#log.warn('peer did not answer an HTTP/2 PING; session dropped', {
            remoteAddress: session.socket?.remoteAddress,
            intervalMs: every,
          });
          session.destroy();
          return;
        }
        outstanding = true;
        try {
          session.ping((err) => {
            if (err === null) outstanding = false;
          });
        } catch {
          // The session is closing: the 'close' handler cleans up.
        }
      }, every).unref();
    }
    session.on('close', () => {
      clearInterval(timer);
      this.#sessions.delete(session);
    });
  }
}
