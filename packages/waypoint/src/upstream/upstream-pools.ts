// Connection pooling toward endpoints. Every upstream connection is a tunnel from `dial` (HBONE to
// the endpoint's pod through the shared HbonePool, whose HTTP/2 sessions are themselves pooled):
// HTTP/1.1 goes through an undici Pool per endpoint (keep-alive, one request per connection at a
// time), HTTP/2 and gRPC through one node:http2 session per endpoint, re-made when it closes.

import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import type { Endpoint } from './endpoint.ts';

export type TunnelDialer = (endpoint: Endpoint, signal?: AbortSignal) => Promise<Duplex>;

const H2_STREAM_WINDOW = 4 * 1024 * 1024;
const H2_CONNECTION_WINDOW = 16 * 1024 * 1024;

export class UpstreamPools {
  readonly #dial: TunnelDialer;
  readonly #http1 = new Map<string, Pool>();
  readonly #h2 = new Map<string, Promise<ClientHttp2Session>>();

  constructor(dial: TunnelDialer) {
    this.#dial = dial;
  }

  /** A raw tunnel to the endpoint (upgrades, opaque TCP, mirrors never use this). */
  tunnel(endpoint: Endpoint, signal?: AbortSignal): Promise<Duplex> {
    return this.#dial(endpoint, signal);
  }

  http1(endpoint: Endpoint): Pool {
    let pool = this.#http1.get(endpoint.key);
    if (pool === undefined) {
      pool = new Pool(`http://${endpoint.key}`, {
        // Timeouts are route policy (timeouts layers), not the client's.
        headersTimeout: 0,
        bodyTimeout: 0,
        keepAliveTimeout: 30_000,
        connect: (_opts, cb) => {
          // undici wants the callback called asynchronously; the dial is.
          this.#dial(endpoint).then(
            (s) => cb(null, s as never),
            (err: Error) => cb(err, null),
          );
          return undefined;
        },
      });
      this.#http1.set(endpoint.key, pool);
    }
    return pool;
  }

  h2(endpoint: Endpoint): Promise<ClientHttp2Session> {
    let p = this.#h2.get(endpoint.key);
    if (p === undefined) {
      p = this.#dial(endpoint).then((tunnel) => {
        const session = h2connect(`http://${endpoint.key}`, {
          createConnection: () => tunnel,
          settings: { initialWindowSize: H2_STREAM_WINDOW, enablePush: false },
        });
        session.on('error', () => {});
        session.once('connect', () => session.setLocalWindowSize(H2_CONNECTION_WINDOW));
        const forget = (): void => {
          if (this.#h2.get(endpoint.key) === p) this.#h2.delete(endpoint.key);
        };
        session.once('close', forget);
        session.once('goaway', forget);
        return session;
      });
      p.catch(() => {
        if (this.#h2.get(endpoint.key) === p) this.#h2.delete(endpoint.key);
      });
      this.#h2.set(endpoint.key, p);
    }
    return p;
  }

  stats(): { http1Pools: number; h2Sessions: number } {
    return { http1Pools: this.#http1.size, h2Sessions: this.#h2.size };
  }

  async close(): Promise<void> {
    const pools = [...this.#http1.values()];
    this.#http1.clear();
    const sessions = [...this.#h2.values()];
    this.#h2.clear();
    await Promise.allSettled([
      ...pools.map((p) => p.destroy()),
      ...sessions.map(async (s) => (await s).destroy()),
    ]);
  }
}
