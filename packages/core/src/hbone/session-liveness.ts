import type { Http2Session } from 'node:http2';
import { HboneConnectError } from '../errors.ts';

export interface SessionLivenessOptions {
  /** PING period; 0 disables. A PING still unanswered when the next is due destroys the session. */
  pingIntervalMs: number;
  /** Called once the session has had no stream for this long; 0 disables. */
  idleTimeoutMs: number;
  onIdle(): void;
}

/**
 * Keeps one HTTP/2 session honest: H2 PING liveness (a dead peer behind a silent network is found
 * within two intervals) and an idle timer that runs while the session carries no stream. Timers
 * are unref'd: they never keep a process alive.
 */
export class SessionLiveness {
  readonly #session: Http2Session;
  readonly #opts: SessionLivenessOptions;
  #streams = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #pingOutstanding = false;

  constructor(session: Http2Session, opts: SessionLivenessOptions) {
    this.#session = session;
    this.#opts = opts;
    if (opts.pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => this.#ping(), opts.pingIntervalMs).unref();
    }
    this.#armIdle();
    session.once('close', () => this.stop());
  }

  get streams(): number {
    return this.#streams;
  }

  streamOpened(): void {
    this.#streams += 1;
    if (this.#idleTimer) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }

  streamClosed(): void {
    this.#streams -= 1;
    if (this.#streams === 0) this.#armIdle();
  }

  stop(): void {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#idleTimer);
    this.#pingTimer = undefined;
    this.#idleTimer = undefined;
  }

  #armIdle(): void {
    if (this.#opts.idleTimeoutMs <= 0 || this.#session.destroyed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#streams === 0) this.#opts.onIdle();
    }, this.#opts.idleTimeoutMs).unref();
  }

  #ping(): void {
    const s = this.#session;
    if (s.destroyed || s.closed) return;
    if (this.#pingOutstanding) {
      s.destroy(
        new HboneConnectError(
          `HTTP/2 peer did not answer PING within ${this.#opts.pingIntervalMs} ms; session dropped`,
        ),
      );
      return;
    }
    this.#pingOutstanding = true;
    try {
      s.ping((err) => {
        if (!err) this.#pingOutstanding = false;
      });
    } catch {
      // Session is shutting down; its 'close' stops us.
    }
  }
}
