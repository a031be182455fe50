// Outgoing TCP from inside a captured pod's network namespace, as ztunnel does it in in-pod mode:
// an unconnected socket created in the pod netns by @ambit/netns (marked ZTUNNEL_MARK so that the
// pod's capture rules let it through), handed to Node, which connects it. The pod's routes, source
// address and ephemeral ports are the pod's own: to the network the connection comes from the pod.

import { isIP, Socket } from 'node:net';
import { socketInNetns, ZTUNNEL_MARK, type SocketInNetnsOptions } from '@ambit/netns';

export interface PodDialOptions {
  /** Bind first (IP_TRANSPARENT with a non-local address: speak as the client). */
  bind?: { address: string; transparent: boolean };
  signal?: AbortSignal | undefined;
  /** Default 10 s. */
  timeoutMs?: number | undefined;
}

/**
 * An unconnected, marked socket from `netns`, not yet connecting: for HbonePool's createSocket,
 * which wants a Socket at once. Throws what socketInNetns throws (a bad netns path, EPERM).
 */
export function podSocket(netns: string, host: string, bind?: PodDialOptions['bind']): Socket {
  const family = isIP(host) === 6 ? 6 : 4;
  const opts: SocketInNetnsOptions = { family, mark: ZTUNNEL_MARK };
  if (bind) {
    opts.bind = { address: bind.address };
    if (bind.transparent) opts.transparent = true;
  }
  const fd = socketInNetns(netns, opts);
  return new Socket({ fd, allowHalfOpen: true });
}

/** A connecting socket from inside `netns` (HbonePool's createSocket). */
export function connectFromPod(netns: string, target: { host: string; port: number }): Socket {
  const s = podSocket(netns, target.host);
  s.setNoDelay(true);
  s.connect(target.port, target.host);
  return s;
}

/**
 * Connects from inside `netns` to `target`; resolves once connected (half-open allowed, Nagle
 * off). Rejects on error, abort or timeout, the socket destroyed. Creating the socket can throw
 * synchronously-detected errors (EPERM, EADDRNOTAVAIL): those reject too, with the MeshError.
 */
export function dialFromPod(
  netns: string,
  target: { host: string; port: number },
  opts: PodDialOptions = {},
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let socket: Socket;
    try {
      socket = podSocket(netns, target.host, opts.bind);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = (): void => fail(new Error('dial aborted', { cause: opts.signal?.reason }));
    const timer = setTimeout(
      () =>
        fail(new Error(`connect to ${target.host}:${target.port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
    };
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.setNoDelay(true);
    socket.connect(target.port, target.host, () => {
      cleanup();
      resolve(socket);
    });
  });
}
