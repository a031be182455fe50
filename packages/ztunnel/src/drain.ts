// Graceful drain: on shutdown (SIGTERM) ztunnel stops accepting, lets live connections finish
// until a deadline, then force-closes the rest. The proxy registers each connection with the
// function that tears it down, and unregisters it when it ends on its own.

/** A connection as the drain sees it. */
export interface DrainRegistration {
  /** The connection ended by itself; idempotent. */
  unregister(): void;
}

export interface DrainResult {
  /** Connections live when the drain started. */
  live: number;
  /** Of those, finished on their own before the deadline. */
  finished: number;
  /** Of those, force-closed at the deadline. */
  forced: number;
}

export class Drain {
  readonly #live = new Map<number, () => void>();
  readonly #stopAccepting: (() => void | Promise<void>)[] = [];
  #nextId = 0;
  #draining: Promise<DrainResult> | undefined;
  #onEmpty: (() => void) | undefined;

  /** Live connections. */
  get live(): number {
    return this.#live.size;
  }

  /** True once drain() was called: the proxy should refuse new connections. */
  get draining(): boolean {
    return this.#draining !== undefined;
  }

  /** A function that closes a listener; drain() calls every one first. */
  onStopAccepting(close: () => void | Promise<void>): void {
    this.#stopAccepting.push(close);
  }

  /**
   * Tracks a connection until it unregisters. `forceClose` destroys it (called at most once, at
   * the deadline). A connection registered while draining is force-closed at once.
   */
  register(forceClose: () => void): DrainRegistration {
    if (this.#draining) {
      forceClose();
      return { unregister() {} };
    }
    const id = this.#nextId++;
    this.#live.set(id, forceClose);
    return {
      unregister: () => {
        if (!this.#live.delete(id)) return;
        if (this.#live.size === 0) this.#onEmpty?.();
      },
    };
  }

  /**
   * Stops accepting, waits for live connections to end until `deadlineMs` from now, then
   * force-closes the rest. Calling it again returns the same result.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.#draining ??= this.#run(deadlineMs);
    return this.#draining;
  }

  async #run(deadlineMs: number): Promise<DrainResult> {
    const live = this.#live.size;
    await Promise.allSettled(this.#stopAccepting.map(async (close) => close()));
    if (this.#live.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.#onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#onEmpty = undefined;
    }
    const rest = [...this.#live.values()];
    this.#live.clear();
    for (const forceClose of rest) {
      try {
        forceClose();
      } catch {
        // A connection that fails to close is still gone from our point of view.
      }
    }
    return { live, finished: live - rest.length, forced: rest.length };
  }
}
