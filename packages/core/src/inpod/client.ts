// The node agent's side of the in-pod handoff. Keeps one connection to ztunnel's socket; after
// every (re)connect it sends hello and then a snapshot of the agent's full set (read from the
// agent at that moment), so a restarted ztunnel or agent converges without a diff protocol. Then
// add/del requests go out one at a time, each waiting for its ACK.
//
// A request that is not answered in time also drops the connection: ztunnel may still act on it,
// and the snapshot sent on the reconnect is what puts both sides back in agreement.

import { createConnection, type Socket } from 'node:net';
import { InpodRefusedError, InpodUnavailableError, type MeshError } from '../errors.ts';
import { readLines } from './lines.ts';
import {
  INPOD_PROTOCOL_VERSION,
  decodeZtunnelMessage,
  encodeInpodMessage,
  type InpodPod,
  type ZtunnelMessage,
} from './protocol.ts';

type Outgoing =
  | { type: 'hello'; version: number; node: string }
  | { type: 'snapshot'; pods: readonly InpodPod[] }
  | { type: 'add'; pod: InpodPod }
  | { type: 'del'; uid: string };

export interface InpodClientOptions {
  socketPath: string;
  /** This node's name (sent in hello, for ztunnel's logs). */
  node: string;
  /** The full set of captured pods; read when a snapshot is sent. */
  snapshot(): readonly InpodPod[];
  /** How long add/del wait for a connection and an answer. Default 5000 ms. */
  ackTimeoutMs?: number;
  /** Reconnect delay: doubles from min to max. Default 100 ms .. 5 s. */
  reconnectDelayMs?: { min: number; max: number };
  /** true once a connection is synced (hello and snapshot acknowledged); false when it is lost. */
  onSyncChange?(synced: boolean): void;
  /** Refused snapshots, lost connections, late answers (for logs). */
  onError?(err: MeshError): void;
}

interface Pending {
  msg: Outgoing;
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class InpodClient {
  readonly #opts: InpodClientOptions;
  readonly #ackTimeoutMs: number;
  #socket: Socket | undefined;
  #synced = false;
  #closed = false;
  #nextId = 1;
  #delay: number;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** The one request on the wire: its id and what to do with the answer. */
  #inflight: { id: number; done(reply: ZtunnelMessage | Error): void } | undefined;
  readonly #queue: Pending[] = [];

  constructor(opts: InpodClientOptions) {
    this.#opts = opts;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
    this.#delay = opts.reconnectDelayMs?.min ?? 100;
  }

  /** True while connected and synced (hello and snapshot acknowledged). */
  get synced(): boolean {
    return this.#synced;
  }

  /** Starts connecting (and reconnecting until close()). */
  start(): void {
    if (this.#socket === undefined && this.#reconnectTimer === undefined && !this.#closed) {
      this.#connect();
    }
  }

  /** Hands one pod to ztunnel. Rejects InpodRefusedError (NACK) or InpodUnavailableError. */
  add(pod: InpodPod): Promise<void> {
    return this.#enqueue({ type: 'add', pod });
  }

  /** Releases one pod. Rejects like add(). */
  del(uid: string): Promise<void> {
    return this.#enqueue({ type: 'del', uid });
  }

  /** Sends the current full set again (e.g. after the agent reconciled many pods at once). */
  resync(): Promise<void> {
    return this.#enqueue({ type: 'snapshot', pods: this.#opts.snapshot() });
  }

  /** Closes the connection for good; queued requests reject with InpodUnavailableError. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    for (const p of this.#queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new InpodUnavailableError('in-pod client closed'));
    }
    const s = this.#socket;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.destroy();
      });
    }
  }

  #enqueue(msg: Outgoing): Promise<void> {
    if (this.#closed) return Promise.reject(new InpodUnavailableError('in-pod client closed'));
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        msg,
        resolve,
        reject,
        timer: setTimeout(() => this.#timeout(p), this.#ackTimeoutMs),
      };
      this.#queue.push(p);
      this.#pump();
    });
  }

  #timeout(p: Pending): void {
    const i = this.#queue.indexOf(p);
    if (i !== -1) this.#queue.splice(i, 1);
    const inflight = this.#inflight !== undefined && i === -1;
    p.reject(
      new InpodUnavailableError(
        this.#synced
          ? `ztunnel did not acknowledge ${p.msg.type} within ${this.#ackTimeoutMs} ms (${this.#opts.socketPath})`
          : `ztunnel is not connected at ${this.#opts.socketPath} (waited ${this.#ackTimeoutMs} ms); is ztunnel running on this node?`,
      ),
    );
    // ztunnel may still act on the unanswered request: reconnect, so the snapshot re-syncs.
    if (inflight) this.#socket?.destroy();
  }

  #pump(): void {
    if (!this.#synced || this.#inflight !== undefined) return;
    const p = this.#queue.shift();
    if (p === undefined) return;
    this.#send(p.msg, (reply) => {
      clearTimeout(p.timer);
      if (reply instanceof Error) p.reject(reply);
      else if (reply.type === 'nack')
        p.reject(new InpodRefusedError(`ztunnel refused ${p.msg.type}: ${reply.reason}`));
      else p.resolve();
      this.#pump();
    });
  }

  #send(msg: Outgoing, done: (reply: ZtunnelMessage | Error) => void): void {
    const id = this.#nextId++;
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) {
      done(new InpodUnavailableError('ztunnel connection lost'));
      return;
    }
    this.#inflight = {
      id,
      done: (reply) => {
        this.#inflight = undefined;
        done(reply);
      },
    };
    socket.write(encodeInpodMessage({ ...msg, id }));
  }

  #connect(): void {
    this.#reconnectTimer = undefined;
    const socket = createConnection(this.#opts.socketPath);
    this.#socket = socket;
    socket.on('connect', () => {
      // A ztunnel that accepts but never answers the handshake must not wedge the agent.
      const handshakeTimer = setTimeout(() => {
        this.#opts.onError?.(
          new InpodUnavailableError(
            `ztunnel did not answer the handshake within ${this.#ackTimeoutMs} ms`,
          ),
        );
        socket.destroy();
      }, this.#ackTimeoutMs);
      socket.once('close', () => clearTimeout(handshakeTimer));
      this.#send(
        { type: 'hello', version: INPOD_PROTOCOL_VERSION, node: this.#opts.node },
        (reply) => {
          if (!this.#handshakeStep(socket, 'hello', reply)) return;
          this.#send({ type: 'snapshot', pods: this.#opts.snapshot() }, (r) => {
            if (!this.#handshakeStep(socket, 'snapshot', r)) return;
            clearTimeout(handshakeTimer);
            this.#delay = this.#opts.reconnectDelayMs?.min ?? 100;
            this.#synced = true;
            this.#opts.onSyncChange?.(true);
            this.#pump();
          });
        },
      );
    });
    readLines(
      socket,
      (line) => {
        let reply: ZtunnelMessage;
        try {
          reply = decodeZtunnelMessage(line);
        } catch (err) {
          this.#opts.onError?.(err as MeshError);
          socket.destroy();
          return;
        }
        if (this.#inflight?.id === reply.id) this.#inflight.done(reply);
        else {
          this.#opts.onError?.(
            new InpodUnavailableError(`ztunnel answered message ${reply.id}, which is not pending`),
          );
        }
      },
      (err) => {
        this.#opts.onError?.(err);
        socket.destroy();
      },
    );
    socket.on('error', (err) => {
      this.#opts.onError?.(
        new InpodUnavailableError(`in-pod socket ${this.#opts.socketPath}: ${err.message}`, {
          cause: err,
        }),
      );
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#inflight?.done(new InpodUnavailableError('ztunnel connection lost before it answered'));
      if (this.#synced) {
        this.#synced = false;
        this.#opts.onSyncChange?.(false);
      }
      if (!this.#closed) {
        const delay = this.#delay;
        this.#delay = Math.min(delay * 2, this.#opts.reconnectDelayMs?.max ?? 5000);
        this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
      }
    });
  }

  /** True when a handshake answer was an ACK; otherwise reports it and drops the connection. */
  #handshakeStep(socket: Socket, step: string, reply: ZtunnelMessage | Error): boolean {
    if (reply instanceof Error) return false;
    if (reply.type === 'ack') return true;
    this.#opts.onError?.(new InpodRefusedError(`ztunnel refused ${step}: ${reply.reason}`));
    socket.destroy();
    return false;
  }
}
