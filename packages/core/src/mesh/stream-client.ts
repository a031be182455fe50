// The data plane's side of the config stream (DESIGN.md "Config stream", docs/config-stream.md):
// one long-lived HTTP/2 stream over TLS 1.3 to the controller's :15012, `POST
// /ambit.config.v1/stream` with a ServiceAccount token, newline-delimited JSON both ways.
//
// The client holds a copy of every subscribed type. Each server message is decoded, applied to a
// copy of that (snapshot or delta), offered to the consumer's `apply` hook, and only then committed
// and ACKed; anything that fails is NACKed with the reason and changes nothing. When the connection
// is lost the copy stays in force and the client reconnects with capped, jittered backoff, telling
// the server the versions it holds.

import { readFile } from 'node:fs/promises';
import {
  connect as h2connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from 'node:tls';
import {
  ConfigStreamClosedError,
  ConfigStreamConnectError,
  ConfigStreamMessageError,
  ConfigStreamProtocolError,
  ConfigStreamTokenError,
  ConfigStreamUnauthenticatedError,
  MeshError,
} from '../errors.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { applyServerMessage, type HeldType } from './apply-server-message.ts';
import type { ConfigSource, ConfigSourceHooks } from './config-source.ts';
import { reconnectDelay, type BackoffOptions } from './reconnect-delay.ts';
import {
  LineSplitter,
  RESOURCE_TYPES,
  STREAM_SCHEMA,
  decodeServerMessage,
  encodeClientMessage,
  type ClientMessage,
  type ResourceOf,
  type ResourceType,
} from './stream-protocol.ts';

/** The controller's config-stream (and CA) port. */
export const CONFIG_STREAM_PORT = 15012;
/** The one path the config stream is served on. */
export const CONFIG_STREAM_PATH = '/ambit.config.v1/stream';
/** The content type of both directions. */
export const CONFIG_STREAM_CONTENT_TYPE = 'application/x-ndjson';
/** Default cap on one message (line): 16 Mi characters. */
export const DEFAULT_MAX_MESSAGE_CHARS = 16 * 1024 * 1024;

/** Where the bearer token comes from; read again for every connection (projected tokens rotate). */
export type TokenSource = { file: string } | { supply(): string | Promise<string> };

/** The timers reconnect delays are scheduled with (tests inject their own to step through backoff). */
export interface ReconnectTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConfigStreamClientOptions extends ConfigSourceHooks {
  /** The controller: a host name or IP, and port (default 15012). */
  address: { host: string; port?: number };
  /** PEM bundle the controller's certificate must chain to (may hold several roots). */
  roots: string;
  /** SNI and the DNS name/IP checked in the certificate. Default `address.host`. */
  serverName?: string;
  /** If set, the controller's certificate must carry this SPIFFE ID as its URI SAN (instead of the name check). */
  expectedServerId?: SpiffeId;
  token: TokenSource;
  /** This data plane's node name (ztunnel) or own name (waypoint). */
  node: string;
  types: readonly ResourceType[];
  backoff?: BackoffOptions;
  /** A message longer than this is a protocol error: the client closes the stream and reconnects. */
  maxMessageChars?: number;
  /** TCP + TLS + response headers. Default 10 s. */
  connectTimeoutMs?: number;
  /** HTTP/2 PING interval; a PING unanswered by the next one drops the connection. Default 30 s; 0 turns it off. */
  pingIntervalMs?: number;
  timers?: ReconnectTimers;
  random?: () => number;
  now?: () => number;
}

export interface ConfigStreamTypeState {
  /** The version held ("" before the first snapshot). */
  version: string;
  resources: number;
  /** A snapshot of this type has been applied (on this or an earlier stream). */
  synced: boolean;
  lastAck?: { nonce: string; version: string; at: string };
  lastNack?: { nonce: string; version: string; reason: string; at: string };
}

/** What /config_dump shows of the stream. */
export interface ConfigStreamState {
  endpoint: string;
  connected: boolean;
  closed: boolean;
  connectedSince?: string;
  lastError?: { code: string; message: string; at: string };
  /** Connection attempts that failed since the last good message. */
  failures: number;
  nextRetryAt?: string;
  versions: Partial<Record<ResourceType, string>>;
  types: Partial<Record<ResourceType, ConfigStreamTypeState>>;
}

/** One connection attempt and, once it answers 200, the stream. */
interface Connection {
  session?: ClientHttp2Session;
  req?: ClientHttp2Stream;
  status?: number;
  body: string;
  splitter: LineSplitter;
  /** Types whose next message is a full snapshot: all at first, until one of theirs is ACKed. */
  awaitingSnapshot: Set<ResourceType>;
  done: boolean;
  /** Resolves the attempt's promise (connected or failed). */
  settle: () => void;
  timers: NodeJS.Timeout[];
}

const MAX_ERROR_BODY = 4096;

export class ConfigStreamClient implements ConfigSource {
  readonly #o: ConfigStreamClientOptions;
  readonly #timers: ReconnectTimers;
  readonly #now: () => number;
  readonly #endpoint: string;
  readonly #held = new Map<ResourceType, HeldType>();
  readonly #types = new Map<ResourceType, ConfigStreamTypeState>();
  #conn: Connection | undefined;
  #attempt: Promise<void> | undefined;
  #retry: { handle: unknown; at: number } | undefined;
  #failures = 0;
  #connectedSince: number | undefined;
  #lastError: ConfigStreamState['lastError'];
  #started = false;
  #closed = false;
  #ready: PromiseWithResolvers<void> | undefined;

  constructor(opts: ConfigStreamClientOptions) {
    if (opts.types.length === 0) throw new TypeError('subscribe to at least one resource type');
    for (const t of opts.types) {
      if (!RESOURCE_TYPES.includes(t)) throw new TypeError(`unknown resource type ${t}`);
    }
    this.#o = opts;
    this.#timers = opts.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    };
    this.#now = opts.now ?? Date.now;
    const host = isIP(opts.address.host) === 6 ? `[${opts.address.host}]` : opts.address.host;
    this.#endpoint = `https://${host}:${opts.address.port ?? CONFIG_STREAM_PORT}${CONFIG_STREAM_PATH}`;
    for (const t of opts.types) this.#types.set(t, { version: '', resources: 0, synced: false });
  }

  /** Starts connecting (once). Returns this. */
  start(): this {
    if (!this.#started && !this.#closed) {
      this.#started = true;
      void this.#connectNow();
    }
    return this;
  }

  reload(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (!this.#started) this.#started = true;
    if (this.#attempt !== undefined) return this.#attempt;
    if (this.#conn !== undefined && !this.#conn.done) return Promise.resolve(); // connected
    return this.#connectNow();
  }

  /** Resolves once every subscribed type has had a snapshot applied; rejects if closed first. */
  ready(): Promise<void> {
    if (this.#ready === undefined) {
      this.#ready = Promise.withResolvers<void>();
      if (this.#closed) this.#ready.reject(new ConfigStreamClosedError('config stream closed'));
      this.#checkReady();
    }
    return this.#ready.promise;
  }

  /** The resources of one type in force (empty before its first snapshot). */
  resources<T extends ResourceType>(type: T): ReadonlyMap<string, ResourceOf[T]> {
    return (this.#held.get(type)?.resources ?? new Map()) as ReadonlyMap<string, ResourceOf[T]>;
  }

  state(): ConfigStreamState {
    const iso = (ms: number) => new Date(ms).toISOString();
    const versions: ConfigStreamState['versions'] = {};
    const types: ConfigStreamState['types'] = {};
    for (const [t, s] of this.#types) {
      types[t] = { ...s };
      if (s.version !== '') versions[t] = s.version;
    }
    const connected = this.#connectedSince !== undefined;
    return {
      endpoint: this.#endpoint,
      connected,
      closed: this.#closed,
      ...(connected && { connectedSince: iso(this.#connectedSince ?? 0) }),
      ...(this.#lastError && { lastError: this.#lastError }),
      failures: this.#failures,
      ...(this.#retry && { nextRetryAt: iso(this.#retry.at) }),
      versions,
      types,
    };
  }

  /** Stops for good: cancels any reconnect and closes the stream. The held config is kept. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) this.#timers.clearTimeout(this.#retry.handle);
    this.#retry = undefined;
    this.#ready?.reject(new ConfigStreamClosedError('config stream closed before it was ready'));
    const conn = this.#conn;
    if (conn === undefined || conn.done) return;
    const session = conn.session;
    this.#teardown(conn);
    if (session !== undefined && !session.closed) {
      await new Promise<void>((resolve) => session.once('close', () => resolve()));
    }
  }

  // --- connection lifecycle ---

  #connectNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#retry !== undefined) this.#timers.clearTimeout(this.#retry.handle);
    this.#retry = undefined;
    const { promise, resolve } = Promise.withResolvers<void>();
    const conn: Connection = {
      body: '',
      splitter: new LineSplitter(this.#o.maxMessageChars ?? DEFAULT_MAX_MESSAGE_CHARS),
      awaitingSnapshot: new Set(this.#o.types),
      done: false,
      settle: () => {
        if (this.#attempt === promise) this.#attempt = undefined;
        resolve();
      },
      timers: [],
    };
    this.#conn = conn;
    this.#attempt = promise;
    void this.#open(conn);
    return promise;
  }

  async #open(conn: Connection): Promise<void> {
    let token: string;
    try {
      token = await this.#readToken();
    } catch (err) {
      this.#fail(conn, err as Error);
      return;
    }
    if (conn.done || this.#closed) return;
    const { host } = this.#o.address;
    const port = this.#o.address.port ?? CONFIG_STREAM_PORT;
    const serverName = this.#o.serverName ?? host;
    const expected = this.#o.expectedServerId;
    const session = h2connect(this.#endpoint, {
      settings: { initialWindowSize: 1024 * 1024 },
      createConnection: () => {
        const socket = tlsConnect({
          host,
          port,
          ...(isIP(serverName) === 0 && { servername: serverName }),
          ca: this.#o.roots,
          minVersion: 'TLSv1.3',
          maxVersion: 'TLSv1.3',
          ALPNProtocols: ['h2'],
          checkServerIdentity: (_name: string, cert: PeerCertificate) =>
            expected === undefined
              ? checkServerIdentity(serverName, cert)
              : serverIdMismatch(cert, expected),
        });
        socket.setNoDelay(true);
        socket.once('secureConnect', () => {
          if (socket.alpnProtocol !== 'h2') {
            socket.destroy(new Error(`controller did not negotiate ALPN h2`));
          }
        });
        return socket;
      },
    });
    conn.session = session;
    session.on('error', (err: Error) => this.#fail(conn, connectError(this.#endpoint, err)));
    session.on('close', () =>
      this.#fail(conn, new ConfigStreamConnectError(`${this.#endpoint}: connection closed`)),
    );
    const timeoutMs = this.#o.connectTimeoutMs ?? 10_000;
    conn.timers.push(
      setTimeout(() => {
        if (conn.status === undefined) {
          this.#fail(
            conn,
            new ConfigStreamConnectError(
              `${this.#endpoint}: no answer within ${timeoutMs} ms (is the controller's port reachable?)`,
            ),
          );
        }
      }, timeoutMs).unref(),
    );

    const req = session.request(
      {
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: CONFIG_STREAM_PATH,
        [h2.HTTP2_HEADER_AUTHORIZATION]: `Bearer ${token}`,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: CONFIG_STREAM_CONTENT_TYPE,
      },
      { endStream: false },
    );
    conn.req = req;
    req.on('response', (headers) => this.#onResponse(conn, headers));
    req.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
    req.on('end', () => this.#onEnd(conn));
    req.on('error', (err: Error) => this.#fail(conn, connectError(this.#endpoint, err)));
    req.on('close', () => this.#onEnd(conn));
    this.#send(conn, {
      schema: STREAM_SCHEMA,
      kind: 'subscribe',
      node: this.#o.node,
      types: this.#o.types,
      versions: this.state().versions,
    });
  }

  #onResponse(conn: Connection, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    const status = headers[':status'] ?? 0;
    conn.status = status;
    if (status !== 200) return; // the body (the reason) is read, then #onEnd reports it
    const type = headers['content-type'] ?? '';
    if (!type.startsWith(CONFIG_STREAM_CONTENT_TYPE)) {
      this.#fail(
        conn,
        new ConfigStreamProtocolError(
          `${this.#endpoint}: content type ${JSON.stringify(type)}, expected ${CONFIG_STREAM_CONTENT_TYPE}`,
        ),
      );
      return;
    }
    this.#connectedSince = this.#now();
    const ping = this.#o.pingIntervalMs ?? 30_000;
    if (ping > 0) {
      let outstanding = false;
      conn.timers.push(
        setInterval(() => {
          if (outstanding) {
            this.#fail(
              conn,
              new ConfigStreamConnectError(
                `${this.#endpoint}: HTTP/2 PING unanswered for ${ping} ms`,
              ),
            );
            return;
          }
          outstanding = true;
          conn.session?.ping((err) => {
            if (err === null) outstanding = false;
          });
        }, ping).unref(),
      );
    }
    conn.settle();
  }

  #onData(conn: Connection, chunk: Buffer): void {
    if (conn.done) return;
    if (conn.status !== 200) {
      if (conn.body.length < MAX_ERROR_BODY) conn.body += chunk.toString('utf8');
      return;
    }
    let lines: string[];
    try {
      lines = conn.splitter.push(chunk);
    } catch (err) {
      this.#fail(conn, protocolError(this.#endpoint, err));
      return;
    }
    for (const line of lines) {
      if (conn.done) return;
      this.#onLine(conn, line);
    }
  }

  #onEnd(conn: Connection): void {
    if (conn.done) return;
    const body = conn.body.trim().slice(0, MAX_ERROR_BODY);
    const status = conn.status;
    const why = body === '' ? '' : `: ${body}`;
    if (status === 401 || status === 403) {
      this.#fail(
        conn,
        new ConfigStreamUnauthenticatedError(
          status,
          `${this.#endpoint}: the controller refused ${status === 401 ? 'the token' : 'this caller'} (${status})${why}`,
        ),
      );
    } else if (status !== undefined && status !== 200) {
      this.#fail(
        conn,
        new ConfigStreamProtocolError(`${this.#endpoint}: the controller answered ${status}${why}`),
      );
    } else {
      try {
        conn.splitter.end();
      } catch (err) {
        this.#fail(conn, protocolError(this.#endpoint, err));
        return;
      }
      this.#fail(
        conn,
        new ConfigStreamConnectError(`${this.#endpoint}: the controller ended the stream`),
      );
    }
  }

  /** The one place a connection ends: records the error, keeps the config, schedules a reconnect. */
  #fail(conn: Connection, err: Error): void {
    if (conn.done) return;
    this.#teardown(conn);
    if (this.#closed) return;
    this.#lastError = {
      code: err instanceof MeshError ? err.code : 'AMBIT_CONFIG_STREAM_CONNECT',
      message: err.message,
      at: new Date(this.#now()).toISOString(),
    };
    const delay = reconnectDelay(this.#failures, this.#o.backoff, this.#o.random);
    this.#failures += 1;
    const handle = this.#timers.setTimeout(() => {
      if (this.#retry?.handle === handle && !this.#closed) {
        this.#retry = undefined;
        void this.#connectNow();
      }
    }, delay);
    this.#retry = { handle, at: this.#now() + delay };
    this.#report(err);
  }

  #teardown(conn: Connection): void {
    conn.done = true;
    if (this.#conn === conn) this.#connectedSince = undefined;
    for (const t of conn.timers) clearTimeout(t);
    conn.req?.close(h2.NGHTTP2_CANCEL);
    conn.session?.destroy();
    conn.settle();
  }

  // --- messages ---

  #onLine(conn: Connection, line: string): void {
    let msg;
    try {
      msg = decodeServerMessage(line);
    } catch (err) {
      const to = replyAddress(line);
      if (to === undefined) {
        this.#fail(
          conn,
          new ConfigStreamProtocolError(
            `${this.#endpoint}: a message without a usable type and nonce (cannot NACK it): ${(err as Error).message}`,
            { cause: err },
          ),
        );
      } else {
        this.#nack(conn, to.type, to.nonce, err as Error);
      }
      return;
    }
    const state = this.#types.get(msg.type);
    if (state === undefined) {
      const err = new ConfigStreamMessageError(
        `config-stream: type ${msg.type} was not subscribed to (subscribed: ${this.#o.types.join(', ')})`,
      );
      this.#nack(conn, msg.type, msg.nonce, err);
      return;
    }
    let result;
    try {
      result = applyServerMessage(
        this.#held.get(msg.type),
        msg,
        conn.awaitingSnapshot.has(msg.type),
      );
      this.#o.apply?.(result.update);
    } catch (err) {
      this.#nack(conn, msg.type, msg.nonce, err as Error);
      return;
    }
    // Commit.
    this.#held.set(msg.type, result.held);
    conn.awaitingSnapshot.delete(msg.type);
    this.#failures = 0;
    const at = new Date(this.#now()).toISOString();
    state.version = msg.version;
    state.resources = result.held.resources.size;
    state.synced = true;
    state.lastAck = { nonce: msg.nonce, version: msg.version, at };
    this.#send(conn, {
      schema: STREAM_SCHEMA,
      kind: 'ack',
      type: msg.type,
      version: msg.version,
      nonce: msg.nonce,
    });
    try {
      this.#o.onUpdate?.(result.update);
    } catch (err) {
      this.#report(err as Error);
    }
    this.#checkReady();
  }

  #nack(conn: Connection, type: ResourceType, nonce: string, err: Error): void {
    const version = this.#held.get(type)?.version ?? '';
    const state = this.#types.get(type);
    if (state !== undefined) {
      state.lastNack = {
        nonce,
        version,
        reason: err.message,
        at: new Date(this.#now()).toISOString(),
      };
    }
    this.#send(conn, {
      schema: STREAM_SCHEMA,
      kind: 'nack',
      type,
      version,
      nonce,
      reason: err.message,
    });
    this.#report(err);
  }

  #send(conn: Connection, msg: ClientMessage): void {
    if (!conn.done && conn.req !== undefined && !conn.req.destroyed) {
      conn.req.write(encodeClientMessage(msg));
    }
  }

  #report(err: Error): void {
    try {
      this.#o.onError?.(err);
    } catch {
      // A throwing error hook must not break the stream.
    }
  }

  #checkReady(): void {
    if (this.#ready !== undefined && [...this.#types.values()].every((s) => s.synced)) {
      this.#ready.resolve();
    }
  }

  async #readToken(): Promise<string> {
    const src = this.#o.token;
    let token: string;
    try {
      token = 'file' in src ? await readFile(src.file, 'utf8') : await src.supply();
    } catch (err) {
      const where = 'file' in src ? `token file ${src.file}` : 'the token supplier';
      throw new ConfigStreamTokenError(`cannot read ${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    token = token.trim();
    if (token === '' || /[\r\n]/.test(token)) {
      const where = 'file' in src ? `token file ${src.file}` : 'the token supplier';
      throw new ConfigStreamTokenError(`${where} gave an empty or multi-line token`);
    }
    return token;
  }
}

/** Creates a client and starts connecting. */
export function connectConfigStream(opts: ConfigStreamClientOptions): ConfigStreamClient {
  return new ConfigStreamClient(opts).start();
}

/** For checkServerIdentity: an Error unless the certificate's URI SAN is `expected`. */
function serverIdMismatch(cert: PeerCertificate, expected: SpiffeId): Error | undefined {
  try {
    const id = spiffeIdFromPeerCertificate(cert);
    return id === expected
      ? undefined
      : new Error(`the controller presented ${id}, expected ${expected}`);
  } catch (err) {
    return err as Error;
  }
}

/** The type and nonce of a line that failed to decode, if it has usable ones (so it can be NACKed). */
function replyAddress(line: string): { type: ResourceType; nonce: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { type, nonce } = v as { type?: unknown; nonce?: unknown };
  if (typeof nonce !== 'string' || nonce === '') return undefined;
  if (typeof type !== 'string' || !(RESOURCE_TYPES as readonly string[]).includes(type)) {
    return undefined;
  }
  return { type: type as ResourceType, nonce };
}

function connectError(endpoint: string, err: Error): MeshError {
  if (err instanceof MeshError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)
    ? " (does the controller's certificate chain to the roots given, and carry the expected name or SPIFFE ID?)"
    : code === 'ECONNREFUSED'
      ? ' (is the controller running, and its port 15012 reachable?)'
      : '';
  return new ConfigStreamConnectError(`${endpoint}: ${err.message}${hint}`, { cause: err });
}

function protocolError(endpoint: string, err: unknown): MeshError {
  return new ConfigStreamProtocolError(`${endpoint}: ${(err as Error).message}`, { cause: err });
}
