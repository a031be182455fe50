// Test helpers for the netns tests: servers and sockets over fds, with promises and cleanup.
import { readdirSync, readlinkSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';

/**
 * Listens on a listening fd from socketInNetns; each accepted socket gets `onConnection`. Resets
 * of accepted sockets (a client that closed early) are ignored.
 */
export async function serveFd(fd: number, onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => {});
    onConnection(s);
  });
  server.listen({ fd });
  await once(server, 'listening');
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Connects an unconnected fd from socketInNetns; resolves on connect, rejects with the error. */
export async function connectFd(fd: number, port: number, host: string): Promise<Socket> {
  const socket = new Socket({ fd });
  socket.connect(port, host);
  try {
    await once(socket, 'connect');
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The JS thread's network namespace, e.g. "net:[4026531840]". */
export function threadNetns(): string {
  return readlinkSync('/proc/thread-self/ns/net');
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
