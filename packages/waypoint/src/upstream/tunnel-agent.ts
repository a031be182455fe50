// HTTP/1.1 keep-alive toward one endpoint over tunnels (HBONE CONNECT streams): node:http's Agent
// with `createConnection` returning a tunnel from the dialer. Measured against an undici Pool per
// endpoint over the same tunnels (docs/waypoint.md, "Performance"): node:http's native parser and
// no second HTTP stack in the process cost less CPU and memory per request.
// A tunnel is not a net.Socket: asSocket gives it no-op TCP calls and Buffer-only writes.

import {
  Agent,
  type AgentOptions,
  type ClientRequest,
  type ClientRequestArgs,
  type IncomingMessage,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { asSocket } from '../http/as-socket.ts';

export type TunnelFactory = () => Promise<Duplex>;

/** When a kept-alive tunnel went back to the free list. */
const idleSince = new WeakMap<Socket, number>();
/** How long a free tunnel may stay idle: the agent's idleMs, or less when the app said so. */
const idleLimit = new WeakMap<Socket, number>();
/** The 'end' listener a free tunnel carries (removed when it is reused). */
const farEndWatch = new WeakMap<Socket, () => void>();

/** Close this much before the app's announced keep-alive timeout (as node's own Agent does). */
const HINT_MARGIN_MS = 1_000;

/** `Keep-Alive: timeout=N` of the response that just finished on the socket, in ms. */
function keepAliveHintMs(socket: Socket): number | undefined {
  // node:http's own keepSocketAlive reads the response the same way.
  const res = (socket as { _httpMessage?: { res?: IncomingMessage } })._httpMessage?.res;
  const header = res?.headers['keep-alive'];
  const hint = typeof header === 'string' ? /^timeout=(\d+)/.exec(header)?.[1] : undefined;
  return hint === undefined ? undefined : Number(hint) * 1000;
}

/** How long an idle tunnel closed with END_STREAM may take to finish before it is reset. */
const CLOSE_GRACE_MS = 5_000;

const ignore = (): void => {};

/** How often free tunnels are checked against their idle limits (at most). */
const SWEEP_MS = 1_000;

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
    // The app may close an idle keep-alive connection (node's server after 5 s, Go's after its
    // IdleTimeout, fortio's after 30 s). Over a tunnel that arrives as END_STREAM, which only
    // half-closes the stream: nothing tells the Agent, and the next request would go into a
    // connection the app has closed (a reset, a 502). So a free tunnel reads on (a free
    // keep-alive connection has nothing to read but its end) and closes its own half when the
    // app's end arrives, which takes it off the free list; and it is not kept past the timeout
    // the app announced (Keep-Alive: timeout=N, minus a margin, as node's Agent does).
    if (socket.readableEnded) return false;
    const hint = keepAliveHintMs(socket);
    const limit = hint === undefined ? this.#idleMs : Math.min(this.#idleMs, hint - HINT_MARGIN_MS);
    if (limit <= 0) return false;
    idleSince.set(socket, performance.now());
    idleLimit.set(socket, limit);
    const onEnd = (): void => closeGracefully(socket);
    farEndWatch.set(socket, onEnd);
    socket.once('end', onEnd);
    socket.resume();
    this.#sweep ??= setInterval(() => this.#closeIdle(), Math.min(this.#idleMs / 2, SWEEP_MS));
    this.#sweep.unref();
    return true;
  }

  override reuseSocket(socket: Socket, req: ClientRequest): void {
    const onEnd = farEndWatch.get(socket);
    if (onEnd) socket.removeListener('end', onEnd);
    farEndWatch.delete(socket);
    super.reuseSocket(socket, req);
  }

  override destroy(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    super.destroy();
  }

  /** Closes tunnels idle past their limit; stops sweeping when none is left idle. */
  #closeIdle(): void {
    const now = performance.now();
    let left = 0;
    for (const list of Object.values(this.freeSockets)) {
      for (const s of [...(list ?? [])]) {
        const limit = idleLimit.get(s) ?? this.#idleMs;
        if (now - (idleSince.get(s) ?? now) >= limit) closeGracefully(s);
        else left += 1;
      }
    }
    if (left === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}
