// Connection pooling toward endpoints. Every upstream connection is a tunnel from `dial` (HBONE to
// the endpoint's pod through the shared HbonePool, whose HTTP/2 sessions are themselves pooled):
// HTTP/1.1 goes through a node:http keep-alive TunnelAgent per endpoint (one request per tunnel
// at a time; idle tunnels closed after 30 s), HTTP/2 and gRPC through one node:http2 session per endpoint, re-made when it closes.

import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Endpoint } from './endpoint.ts';
import { TunnelAgent } from './tunnel-agent.ts';

export type TunnelDialer = (endpoint: Endpoint, signal?: AbortSignal) => Promise<Duplex>;

const H2_STREAM_WINDOW = 4 * 1024 * 1024;
const H2_CONNECTION_WINDOW = 16 * 1024 * 1024;

export class UpstreamPools {
  readonly #dial: TunnelDialer;
  readonly #agents = new Map<string, TunnelAgent>();
  readonly #h2 = new Map<string, Promise<ClientHttp2Session>>();

  constructor(dial: TunnelDialer) {
    this.#dial = dial;
  }

  /** A raw tunnel to the endpoint (upgrades, opaque TCP, mirrors never use this). */
  tunnel(endpoint: Endpoint, signal?: AbortSignal): Promise<Duplex> {
    return this.#dial(endpoint, signal);
  }

  /** The HTTP/1.1 keep-alive agent of an endpoint. */
  agent(endpoint: Endpoint): TunnelAgent {
    let a = this.#agents.get(endpoint.key);
    if (a === undefined) {
      a = new TunnelAgent(() => this.#dial(endpoint), { idleMs: 30_000 });
      this.#agents.set(endpoint.key, a);
    }
    return a;
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

  stats(): { http1Agents: number; h2Sessions: number } {
    return { http1Agents: this.#agents.size, h2Sessions: this.#h2.size };
  }

  async close(): Promise<void> {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
    const sessions = [...this.#h2.values()];
    this.#h2.clear();
    await Promise.allSettled([...sessions.map(async (s) => (await s).destroy())]);
  }
}
