// The explicit-mode listener (DESIGN.md: 15080): one TCP port that speaks SOCKS5 and HTTP CONNECT,
// told apart by the first byte (0x05 is SOCKS5; a letter starts an HTTP request line). For
// development and non-root use: no capture, the client names its destination and the source
// workload is the client's IP. A client that sends garbage or stalls gets an answer or a close and
// affects nobody else: every handshake is bounded in size and time.

import { createServer, type Server, type Socket } from 'node:net';
import { formatHostPort } from '@ambit/core/mesh/ip';
import { ByteReader, HandshakeError } from './byte-reader.ts';
import type { ExplicitContext } from './explicit-context.ts';
import { serveHttpConnect } from './http-connect.ts';
import { closeWith, serveSocks5 } from './socks5.ts';

export interface ExplicitListenerOptions {
  host: string;
  port: number;
  /** A client must complete its handshake within this (default 10 s). */
  handshakeTimeoutMs?: number;
}

/** The largest handshake accepted (HTTP CONNECT headers included). */
const MAX_HANDSHAKE_BYTES = 16 * 1024;

export class ExplicitListener {
  readonly #server: Server;
  readonly #ctx: ExplicitContext;
  readonly #opts: ExplicitListenerOptions;
  /** Clients still in their handshake (not yet owned by an outbound tunnel). */
  readonly #handshaking = new Set<Socket>();

  constructor(ctx: ExplicitContext, opts: ExplicitListenerOptions) {
    this.#ctx = ctx;
    this.#opts = opts;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#accept(s));
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', reject);
        const a = this.#server.address() as { address: string; port: number };
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** Stops accepting and drops clients still in their handshake; open tunnels are the drain's. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#handshaking) s.destroy();
    return closed;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => {}); // reported through the handshake or the tunnel
    this.#handshaking.add(socket);
    const reader = new ByteReader(socket, {
      maxBytes: MAX_HANDSHAKE_BYTES,
      timeoutMs: this.#opts.handshakeTimeoutMs ?? 10_000,
      onRelease: () => this.#handshaking.delete(socket),
    });
    void this.#serve(socket, reader);
  }

  async #serve(socket: Socket, reader: ByteReader): Promise<void> {
    const client = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    try {
      const [first = 0] = await reader.peek(1);
      if (first === 0x05) {
        await serveSocks5(socket, reader, this.#ctx);
      } else if (first >= 0x41 && first <= 0x5a) {
        await serveHttpConnect(socket, reader, this.#ctx);
      } else {
        this.#ctx.log.warn('explicit proxy: not SOCKS5 or HTTP; closing', {
          client,
          firstByte: first,
        });
        reader.release();
        // A SOCKS4 client understands this "request rejected" reply; anything else just sees a close.
        if (first === 0x04) closeWith(socket, Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]));
        else socket.destroy();
      }
    } catch (err) {
      reader.release();
      socket.destroy();
      const e = err as Error;
      if (e instanceof HandshakeError) {
        this.#ctx.log.info('explicit proxy: handshake failed', { client, reason: e.message });
      } else {
        this.#ctx.log.error('explicit proxy: unexpected failure', { client, err: e });
      }
    }
  }
}
