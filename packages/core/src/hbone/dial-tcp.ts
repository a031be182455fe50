import { connect, type Socket } from 'node:net';

/**
 * Connects a TCP socket to `target` for an HBONE server's dial phase: half-open allowed (FIN from
 * the client is forwarded, the reply keeps flowing), Nagle off. Rejects on error, abort or timeout;
 * the socket is destroyed in each case.
 */
export function dialTcp(
  target: { host: string; port: number },
  signal?: AbortSignal,
  timeoutMs = 10_000,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new Error('dial aborted', { cause: signal?.reason }));
    const timer = setTimeout(
      () =>
        fail(new Error(`connect to ${target.host}:${target.port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}
