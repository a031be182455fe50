// Outbound capture (DESIGN.md: 15001), one listener per captured pod, inside the pod's netns. The
// pod's rules REDIRECT its outgoing TCP here; SO_ORIGINAL_DST says where the app was going. The
// source workload is the pod whose listener accepted (not looked up by address). Then the same
// executor as explicit mode (OutboundProxy: plan → HBONE or passthrough → pipe), whose upstream
// sockets are created inside the pod's netns. A connection that was not redirected (someone
// dialled 15001 itself: the original destination is the listener's own address) is refused, as is
// one ztunnel cannot plan: the app sees a reset, the access log says why.

import { createServer, type Server, type Socket } from 'node:net';
import { originalDst, socketFd } from '@ambit/netns';
import type { Logger } from '@ambit/core/log';
import { canonicalIp, formatHostPort, type IpAddr } from '@ambit/core/mesh/ip';
import type { Workload } from '@ambit/core/mesh/types';
import type { OutboundProxy } from '../proxy/outbound.ts';

export interface OutboundCaptureOptions {
  /** The listening fd (made inside the pod netns, marked). */
  fd: number;
  outbound: OutboundProxy;
  /** The pod's workload in the current mesh state, if known. */
  workload(): Workload | undefined;
  log: Logger;
}

export class OutboundCaptureListener {
  readonly #server: Server;
  readonly #opts: OutboundCaptureOptions;
  /** Accepted connections still open (closed with the listener: the pod is gone). */
  readonly #live = new Set<Socket>();

  constructor(opts: OutboundCaptureOptions) {
    this.#opts = opts;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) =>
      this.#accept(s),
    );
    this.#server.on('error', (err) => opts.log.error('outbound capture listener failed', { err }));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ fd: this.#opts.fd }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  get connections(): number {
    return this.#live.size;
  }

  /**
   * Stops accepting. `resetLive` (the pod is gone) resets the connections still open and resolves
   * once they are; otherwise they are the drain's and this resolves at once.
   */
  close(opts: { resetLive: boolean }): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (!opts.resetLive) return Promise.resolve();
    for (const s of this.#live) s.destroy();
    return closed;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => {}); // reported by the tunnel
    this.#live.add(socket);
    socket.once('close', () => this.#live.delete(socket));
    void this.#serve(socket);
  }

  async #serve(socket: Socket): Promise<void> {
    const { log, outbound } = this.#opts;
    const client = {
      host: canonicalIp(socket.remoteAddress ?? '') ?? '',
      port: socket.remotePort ?? 0,
    };
    let dst: { address: string; port: number };
    try {
      dst = originalDst(socketFd(socket));
    } catch (err) {
      log.warn('captured connection without an original destination; closing', {
        client: formatHostPort(client.host, client.port),
        err,
      });
      socket.resetAndDestroy();
      return;
    }
    const dstIp = canonicalIp(dst.address) ?? dst.address;
    if (dstIp === canonicalIp(socket.localAddress ?? '') && dst.port === socket.localPort) {
      log.warn('refused a connection to the outbound capture port itself (it would loop)', {
        client: formatHostPort(client.host, client.port),
        destination: formatHostPort(dstIp, dst.port),
      });
      socket.resetAndDestroy();
      return;
    }
    const workload = this.#opts.workload();
    const result = await outbound.open({
      client,
      destination: { ip: dstIp as IpAddr, port: dst.port },
      ...(workload && { source: workload }),
    });
    if (!result.ok) {
      // Already in the access log (earlyDeny or a failed open).
      if (!socket.destroyed) socket.resetAndDestroy();
      return;
    }
    if (socket.destroyed) {
      result.tunnel.abandon('the client left before the upstream opened');
      return;
    }
    await result.tunnel.run(socket);
  }
}
