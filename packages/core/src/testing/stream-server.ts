// TEST PEER ONLY: a small but real config-stream server (HTTP/2 over TLS 1.3, the path, the bearer
// token, newline-delimited JSON) for the client's tests. It sends exactly what a test tells it to
// and records what the client answers. The controller's production server is written separately;
// nothing outside tests may import this.

import { randomUUID } from 'node:crypto';
import {
  constants as h2,
  createSecureServer,
  type Http2SecureServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { CONFIG_STREAM_CONTENT_TYPE, CONFIG_STREAM_PATH } from '../mesh/stream-client.ts';
import {
  LineSplitter,
  STREAM_SCHEMA,
  decodeClientMessage,
  encodeServerMessage,
  type AckMessage,
  type ClientMessage,
  type NackMessage,
  type ResourceType,
  type ServerMessage,
  type SubscribeMessage,
} from '../mesh/stream-protocol.ts';

export interface TestStreamServerOptions {
  /** The certificate the server presents (e.g. a test-PKI identity for ambit-system/ambit-controller). */
  identity: TlsIdentity;
  /** Decides a bearer token: true accepts, false → 401, 'forbidden' → 403. Default: accept any. */
  authenticate?(token: string): boolean | 'forbidden' | Promise<boolean | 'forbidden'>;
  host?: string;
  port?: number;
}

/** What a test sends: an update without the envelope's bookkeeping (nonce made up if absent). */
export interface TestUpdate {
  type: ResourceType;
  version: string;
  resources: readonly unknown[];
  removed?: readonly string[];
  nonce?: string;
}

export type Reply = AckMessage | NackMessage;

/** One accepted stream, from its subscribe on. */
export class TestStreamConnection {
  readonly token: string;
  readonly subscribe: SubscribeMessage;
  /** Every message the client sent after its subscribe, in order. */
  readonly received: ClientMessage[] = [];
  readonly #stream: ServerHttp2Stream;
  readonly #waiting = new Map<string, (r: Reply) => void>();

  constructor(stream: ServerHttp2Stream, token: string, subscribe: SubscribeMessage) {
    this.#stream = stream;
    this.token = token;
    this.subscribe = subscribe;
  }

  /** Sends one update and resolves with the client's ACK or NACK of it. */
  send(update: TestUpdate): Promise<Reply> {
    const nonce = update.nonce ?? randomUUID();
    const reply = this.reply(nonce);
    this.sendRaw(
      encodeServerMessage({
        schema: STREAM_SCHEMA,
        type: update.type,
        version: update.version,
        nonce,
        resources: update.resources,
        removed: update.removed ?? [],
      } as ServerMessage),
    );
    return reply;
  }

  /** Writes raw text (malformed lines, other schema versions) as is. */
  sendRaw(text: string): void {
    this.#stream.write(text);
  }

  /** Resolves with the client's ACK or NACK of `nonce` (also if it already arrived). */
  reply(nonce: string): Promise<Reply> {
    const done = this.received.find((m): m is Reply => m.kind !== 'subscribe' && m.nonce === nonce);
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve) => this.#waiting.set(nonce, resolve));
  }

  /** Drops the connection (the whole HTTP/2 session, as a crashed controller would). */
  drop(): void {
    this.#stream.session?.destroy();
  }

  /** @internal */
  record(msg: ClientMessage): void {
    this.received.push(msg);
    if (msg.kind !== 'subscribe') {
      this.#waiting.get(msg.nonce)?.(msg);
      this.#waiting.delete(msg.nonce);
    }
  }
}

export class TestStreamServer {
  readonly #opts: TestStreamServerOptions;
  readonly #server: Http2SecureServer;
  readonly #sessions = new Set<Http2Session>();
  /** Every stream that subscribed, in order. */
  readonly connections: TestStreamConnection[] = [];
  /** Client lines that did not decode (the stream was reset for each). A correct client leaves this empty. */
  readonly clientErrors: Error[] = [];
  /** Tokens of refused requests, with the status sent. */
  readonly refused: { token: string; status: number }[] = [];
  #waiters: ((c: TestStreamConnection) => void)[] = [];
  #untaken: TestStreamConnection[] = [];

  constructor(opts: TestStreamServerOptions) {
    this.#opts = opts;
    this.#server = createSecureServer({
      key: opts.identity.key,
      cert: opts.identity.certChain,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
    });
    this.#server.on('session', (s) => {
      this.#sessions.add(s);
      s.on('close', () => this.#sessions.delete(s));
      s.on('error', () => {});
    });
    this.#server.on('stream', (stream, headers) => void this.#onStream(stream, headers));
  }

  async listen(): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port ?? 0, this.#opts.host ?? '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address() as AddressInfo;
    return { address: a.address, port: a.port };
  }

  /** The port listened on (after listen()). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Resolves with the next stream that subscribes (or one that already did and was not taken). */
  nextConnection(): Promise<TestStreamConnection> {
    const ready = this.#untaken.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Drops every connection (sessions destroyed); the server keeps listening. */
  dropAll(): void {
    for (const s of this.#sessions) s.destroy();
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.dropAll();
    await closed;
  }

  async #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => {});
    const fail = (status: number, reason: string) => {
      if (stream.destroyed) return;
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: status, 'content-type': 'text/plain' });
      stream.end(`${reason}\n`);
    };
    if (headers[h2.HTTP2_HEADER_PATH] !== CONFIG_STREAM_PATH) return fail(404, 'no such path');
    if (headers[h2.HTTP2_HEADER_METHOD] !== 'POST') return fail(405, 'use POST');
    const auth = String(headers[h2.HTTP2_HEADER_AUTHORIZATION] ?? '');
    const token = /^Bearer (\S+)$/.exec(auth)?.[1];
    const verdict = token === undefined ? false : await (this.#opts.authenticate?.(token) ?? true);
    if (verdict !== true) {
      const status = verdict === 'forbidden' ? 403 : 401;
      this.refused.push({ token: token ?? '', status });
      return fail(status, status === 401 ? 'token refused' : 'caller not allowed');
    }
    stream.respond({
      [h2.HTTP2_HEADER_STATUS]: 200,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: CONFIG_STREAM_CONTENT_TYPE,
    });

    const splitter = new LineSplitter();
    let conn: TestStreamConnection | undefined;
    stream.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (err) {
        this.clientErrors.push(err as Error);
        stream.close(h2.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      for (const line of lines) {
        let msg: ClientMessage;
        try {
          msg = decodeClientMessage(line);
        } catch (err) {
          this.clientErrors.push(err as Error);
          stream.close(h2.NGHTTP2_PROTOCOL_ERROR);
          return;
        }
        if (conn === undefined) {
          if (msg.kind !== 'subscribe') {
            stream.close(h2.NGHTTP2_PROTOCOL_ERROR);
            return;
          }
          conn = new TestStreamConnection(stream, token ?? '', msg);
          this.connections.push(conn);
          const waiter = this.#waiters.shift();
          if (waiter !== undefined) waiter(conn);
          else this.#untaken.push(conn);
        } else {
          conn.record(msg);
        }
      }
    });
  }
}
