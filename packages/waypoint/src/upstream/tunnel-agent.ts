// HTTP/1.1 keep-alive toward one endpoint over tunnels (HBONE CONNECT streams): node:http's Agent
// with `createConnection` returning a tunnel from the dialer. Measured against an undici Pool per
// endpoint over the same tunnels (docs/waypoint.md, "Performance"): node:http's native parser and
// no second HTTP stack in the process cost less CPU and memory per request.
// A tunnel is not a net.Socket: asSocket gives it no-op TCP calls and Buffer-only writes.

import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { asSocket } from '../http/as-socket.ts';

export type TunnelFactory = () => Promise<Duplex>;

/** When a kept-alive tunnel went back to the free list. */
const idleSince = new WeakMap<Socket, number>();

/** How long an idle tunnel closed with END_STREAM may take to finish before it is reset. */
const CLOSE_GRACE_MS = 5_000;

const ignore = (): void => {};

/**
 * Closes an idle tunnel the way a client closes an idle keep-alive TCP connection: END_STREAM,
 * which the endpoint's ztunnel turns into a FIN to the app; the app closes its side and the
 * stream ends cleanly. `destroy()` instead would send RST_STREAM, which ztunnel reports as a
 * reset (response_flags, an error log line) for a connection nothing was wrong with. Then off the
 * free list with the documented `agentRemove` — in this order: the Agent drops a socket from its
 * free list only once it is no longer writable, so a request never picks up the ending tunnel.
 * Reset only if the other side has not finished within CLOSE_GRACE_MS.
 */
function closeGracefully(s: Socket): void {
  s.on('error', ignore);
  s.end();
  s.emit('agentRemove');
  setTimeout(() => s.destroy(), CLOSE_GRACE_MS).unref();
}

export class TunnelAgent extends Agent {
  readonly #open: TunnelFactory;
  readonly #idleMs: number;
  #sweep: NodeJS.Timeout | undefined;

  constructor(open: TunnelFactory, opts: { idleMs: number }) {
    // No Agent `timeout`: on an HTTP/2 stream it means a new timer per request and a timer
    // refresh per write. Idle tunnels are closed by a sweep instead (#closeIdle). The most
    // recently used tunnel is reused first, so a burst's extra tunnels go idle and close.
    const o: AgentOptions = { keepAlive: true, scheduling: 'lifo' };
    super(o);
    this.#open = open;
    this.#idleMs = opts.idleMs;
  }

  override createConnection(
    _opts: ClientRequestArgs,
    cb?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    this.#open().then(
      (d) => cb?.(null, asSocket(d, { timeouts: true })),
      (err: Error) => cb?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Socket): boolean {
    idleSince.set(socket, performance.now());
    this.#sweep ??= setInterval(() => this.#closeIdle(), Math.max(this.#idleMs / 2, 100));
    this.#sweep.unref();
    return true;
  }

  override destroy(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    super.destroy();
  }

  /** Closes tunnels idle for `idleMs`; stops sweeping when none is left idle. */
  #closeIdle(): void {
    const now = performance.now();
    let left = 0;
    for (const list of Object.values(this.freeSockets)) {
      for (const s of [...(list ?? [])]) {
        if (now - (idleSince.get(s) ?? now) >= this.#idleMs) closeGracefully(s);
        else left += 1;
      }
    }
    if (left === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}
