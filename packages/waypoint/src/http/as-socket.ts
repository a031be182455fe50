// A Duplex that is not a net.Socket (an HTTP/2 CONNECT stream: a tunnel) made fit for node:http,
// on either side (the upstream TunnelAgent, the downstream HTTP/1.1 server).

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What node:http calls on a socket beyond the Duplex interface. */
interface SocketLike extends Duplex {
  setKeepAlive?: unknown;
  setNoDelay?: unknown;
  ref?: unknown;
  unref?: unknown;
  setTimeout(ms: number, cb?: () => void): unknown;
}

const noop = (): void => {};

type WriteCb = (err?: Error | null) => void;

/**
 * Gives a tunnel the net.Socket methods node:http may call (a tunnel has no TCP options of its
 * own), and turns string writes into Buffers: node:http writes its request head as a latin1
 * string, and Node 24's HTTP/2 stream, handed a string among corked chunks (writev), can send
 * freed memory instead of it (seen as garbage request lines at the backend; a Buffer is safe).
 * `timeouts: false` makes setTimeout a no-op too: node:http's server re-arms an idle timer after
 * every response, which on an HTTP/2 stream is a new timer per request.
 */
export function asSocket(d: Duplex, opts: { timeouts: boolean }): Socket {
  const s = d as SocketLike;
  const write = s.write.bind(s) as (c: unknown, e?: unknown, cb?: unknown) => boolean;
  s.write = ((chunk: unknown, enc?: BufferEncoding | WriteCb, cb?: WriteCb): boolean =>
    typeof chunk === 'string'
      ? write(
          Buffer.from(chunk, typeof enc === 'string' ? enc : 'utf8'),
          typeof enc === 'function' ? enc : cb,
        )
      : write(chunk, enc, cb)) as typeof s.write;
  s.setKeepAlive ??= noop;
  s.setNoDelay ??= noop;
  s.ref ??= noop;
  s.unref ??= noop;
  if (!opts.timeouts || typeof s.setTimeout !== 'function') s.setTimeout = noop;
  return s as unknown as Socket;
}
