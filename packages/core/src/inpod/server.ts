// ztunnel's side of the in-pod handoff: listens on a unix socket, decodes the node agent's
// messages, runs them one at a time through the handlers and answers each with ACK (the handler
// resolved) or NACK (it threw, or the message was invalid). One agent at a time: a new connection
// replaces the previous one (an agent restart), and must start again with hello + snapshot.

import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { InpodProtocolError } from '../errors.ts';
import { readLines } from './lines.ts';
import {
  INPOD_PROTOCOL_VERSION,
  decodeAgentMessage,
  encodeInpodMessage,
  peekMessageId,
  type AgentMessage,
  type InpodPod,
  type ZtunnelMessage,
} from './protocol.ts';

export interface InpodHandlers {
  /** The agent's full set, after every (re)connect: keep these pods, drop every other one. */
  snapshot(pods: readonly InpodPod[]): void | Promise<void>;
  /** Capture one more pod (open its listeners). Resolve once it is ready to take traffic. */
  add(pod: InpodPod): void | Promise<void>;
  /** Release a pod (close its listeners). Unknown uids are not an error. */
  del(uid: string): void | Promise<void>;
}

export interface InpodServerOptions {
  /** Unix socket path; a stale socket file there is replaced. */
  socketPath: string;
  handlers: InpodHandlers;
  /** Bad messages, handler failures, lost connections (for logs). */
  onError?(err: Error): void;
}

export class InpodServer {
  readonly #opts: InpodServerOptions;
  #server: Server | undefined;
  #current: Socket | undefined;

  constructor(opts: InpodServerOptions) {
    this.#opts = opts;
  }

  /** True while an agent is connected. */
  get connected(): boolean {
    return this.#current !== undefined;
  }

  async listen(): Promise<void> {
    removeStaleSocket(this.#opts.socketPath);
    const server = createServer((s) => this.#accept(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening and drops the agent's connection. */
  async close(): Promise<void> {
    this.#current?.destroy();
    this.#current = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#current?.destroy();
    this.#current = socket;
    let helloDone = false;
    let snapshotDone = false;
    // Messages run strictly in order: each waits for the previous handler to settle.
    let chain = Promise.resolve();
    const send = (m: ZtunnelMessage): void => {
      if (!socket.destroyed) socket.write(encodeInpodMessage(m));
    };
    const nack = (id: number, err: unknown): void => {
      const reason = err instanceof Error ? err.message : String(err);
      this.#opts.onError?.(err instanceof Error ? err : new Error(reason));
      send({ type: 'nack', id, reason });
    };

    const handle = async (msg: AgentMessage): Promise<void> => {
      if (msg.type === 'hello') {
        if (msg.version !== INPOD_PROTOCOL_VERSION) {
          nack(
            msg.id,
            new InpodProtocolError(
              `unsupported in-pod protocol version ${msg.version} (this ztunnel speaks ${INPOD_PROTOCOL_VERSION})`,
            ),
          );
          socket.end();
          return;
        }
        helloDone = true;
        send({ type: 'ack', id: msg.id });
        return;
      }
      if (!helloDone) throw new InpodProtocolError(`${msg.type} before hello`);
      if (msg.type !== 'snapshot' && !snapshotDone) {
        throw new InpodProtocolError(`${msg.type} before the first snapshot`);
      }
      switch (msg.type) {
        case 'snapshot':
          await this.#opts.handlers.snapshot(msg.pods);
          snapshotDone = true;
          break;
        case 'add':
          await this.#opts.handlers.add(msg.pod);
          break;
        case 'del':
          await this.#opts.handlers.del(msg.uid);
          break;
      }
      send({ type: 'ack', id: msg.id });
    };

    readLines(
      socket,
      (line) => {
        let msg: AgentMessage;
        try {
          msg = decodeAgentMessage(line);
        } catch (err) {
          nack(peekMessageId(line), err);
          return;
        }
        chain = chain.then(() => handle(msg).catch((err: unknown) => nack(msg.id, err)));
      },
      (err) => {
        nack(0, err);
        socket.destroy();
      },
    );
    socket.on('error', (err) => this.#opts.onError?.(err));
    socket.on('close', () => {
      if (this.#current === socket) this.#current = undefined;
    });
  }
}

/** A socket file left by a previous process would make listen() fail with EADDRINUSE. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}
