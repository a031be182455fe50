// Reads a client's handshake (SOCKS5, HTTP CONNECT) from a socket in exact pieces, then hands the
// socket back paused with any bytes read past the handshake pushed back in front. Bounded: more
// than `maxBytes` buffered, an early end, an error or the deadline reject the pending read.

import type { Socket } from 'node:net';

export class HandshakeError extends Error {}

export class ByteReader {
  readonly #socket: Socket;
  readonly #maxBytes: number;
  #buf: Buffer = Buffer.alloc(0);
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onData = (chunk: Buffer): void => {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#buf.length > this.#maxBytes) this.#fail(new HandshakeError('handshake too long'));
    this.#wake?.();
  };
  readonly #onEnd = (): void => this.#fail(new HandshakeError('client closed during handshake'));
  readonly #onError = (err: Error): void => this.#fail(err);

  readonly #onRelease: (() => void) | undefined;

  constructor(
    socket: Socket,
    opts: { maxBytes: number; timeoutMs: number; onRelease?: () => void },
  ) {
    this.#socket = socket;
    this.#onRelease = opts.onRelease;
    this.#maxBytes = opts.maxBytes;
    socket.on('data', this.#onData);
    socket.once('end', this.#onEnd);
    socket.on('error', this.#onError);
    this.#timer = setTimeout(
      () => this.#fail(new HandshakeError(`no complete handshake within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    this.#timer.unref();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#wake?.();
  }

  async #until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  /** The next `n` bytes. */
  async read(n: number): Promise<Buffer> {
    await this.#until(() => this.#buf.length >= n);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** The next `n` bytes, left unread. */
  async peek(n: number): Promise<Buffer> {
    await this.#until(() => this.#buf.length >= n);
    return this.#buf.subarray(0, n);
  }

  /** Everything up to and including the first `delimiter` (e.g. the end of HTTP headers). */
  async readUntil(delimiter: string): Promise<Buffer> {
    let at = -1;
    await this.#until(() => (at = this.#buf.indexOf(delimiter)) >= 0);
    return this.read(at + delimiter.length);
  }

  /** Stop taking bytes from the socket for now (they wait in the kernel); errors are still caught. */
  pause(): void {
    this.#socket.pause();
  }

  /** Why the client is gone (end, error, deadline), if it is. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Stops reading: the socket is paused with unread bytes pushed back; the caller owns it again. */
  release(): void {
    clearTimeout(this.#timer);
    const s = this.#socket;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('error', this.#onError);
    s.pause();
    if (this.#buf.length > 0) s.unshift(this.#buf);
    this.#buf = Buffer.alloc(0);
    this.#onRelease?.();
  }
}
