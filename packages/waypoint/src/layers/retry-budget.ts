// A retry budget per backend (linkerd2-proxy's idea): over a sliding window, retries may be at
// most `ratio` × requests + `minRetries`. While a backend fails every request, retries then add
// at most ~20 % load instead of multiplying it by the attempt count.

export interface RetryBudgetOptions {
  /** Retries allowed per request, over the window (default 0.2). */
  ratio?: number;
  /** Retries always allowed per window, so low traffic can retry (default 10). */
  minRetries?: number;
  /** Sliding window length (default 10 s), kept in 10 buckets. */
  windowMs?: number;
  now?: () => number;
}

interface Window {
  requests: number[];
  retries: number[];
  bucket: number;
}

export class RetryBudget {
  readonly #ratio: number;
  readonly #min: number;
  readonly #bucketMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(opts: RetryBudgetOptions = {}) {
    this.#ratio = opts.ratio ?? 0.2;
    this.#min = opts.minRetries ?? 10;
    this.#bucketMs = (opts.windowMs ?? 10_000) / 10;
    this.#now = opts.now ?? Date.now;
  }

  #window(key: string): Window {
    const bucket = Math.floor(this.#now() / this.#bucketMs);
    let w = this.#windows.get(key);
    if (w === undefined) {
      w = {
        requests: new Array<number>(10).fill(0),
        retries: new Array<number>(10).fill(0),
        bucket,
      };
      this.#windows.set(key, w);
    }
    // Clear the buckets that slid out since the last use.
    for (let b = w.bucket + 1; b <= bucket && b <= w.bucket + 10; b++) {
      w.requests[b % 10] = 0;
      w.retries[b % 10] = 0;
    }
    w.bucket = Math.max(w.bucket, bucket);
    return w;
  }

  /** Counts one original request to `key`. */
  request(key: string): void {
    const w = this.#window(key);
    w.requests[w.bucket % 10] = (w.requests[w.bucket % 10] ?? 0) + 1;
  }

  /** Takes one retry from `key`'s budget; false when the budget is spent. */
  tryRetry(key: string): boolean {
    const w = this.#window(key);
    const requests = w.requests.reduce((a, b) => a + b, 0);
    const retries = w.retries.reduce((a, b) => a + b, 0);
    if (retries >= this.#min + this.#ratio * requests) return false;
    w.retries[w.bucket % 10] = (w.retries[w.bucket % 10] ?? 0) + 1;
    return true;
  }
}
