// Passive health: an endpoint that fails `consecutiveFailures` requests in a row (5xx answers or
// connect errors) is ejected for `baseEjectionMs` × the number of times it was ejected (capped at
// 10×). A success resets the count. At most `maxEjectionPercent` of a service's endpoints are out
// at once, so a service-wide outage still gets traffic (and errors) instead of "no endpoint".

export interface OutlierOptions {
  consecutiveFailures?: number;
  baseEjectionMs?: number;
  maxEjectionPercent?: number;
  now?: () => number;
}

interface Health {
  failures: number;
  ejectedUntil: number;
  ejections: number;
}

export class OutlierDetector {
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxPercent: number;
  readonly #now: () => number;
  readonly #health = new Map<string, Health>();

  constructor(opts: OutlierOptions = {}) {
    this.#threshold = opts.consecutiveFailures ?? 5;
    this.#baseMs = opts.baseEjectionMs ?? 30_000;
    this.#maxPercent = opts.maxEjectionPercent ?? 50;
    this.#now = opts.now ?? Date.now;
  }

  isEjected(key: string): boolean {
    const h = this.#health.get(key);
    return h !== undefined && h.ejectedUntil > this.#now();
  }

  /** Records one outcome; returns true when this outcome ejected the endpoint. */
  record(key: string, ok: boolean, peers: readonly string[]): boolean {
    let h = this.#health.get(key);
    if (ok) {
      if (h !== undefined) h.failures = 0;
      return false;
    }
    if (h === undefined) {
      h = { failures: 0, ejectedUntil: 0, ejections: 0 };
      this.#health.set(key, h);
    }
    h.failures += 1;
    if (h.failures < this.#threshold || this.isEjected(key)) return false;
    const ejected = peers.filter((p) => this.isEjected(p)).length;
    if (((ejected + 1) * 100) / Math.max(peers.length, 1) > this.#maxPercent) return false;
    h.ejections += 1;
    h.failures = 0;
    h.ejectedUntil = this.#now() + this.#baseMs * Math.min(h.ejections, 10);
    return true;
  }

  /** Keys currently ejected (admin page). */
  ejected(): string[] {
    return [...this.#health.keys()].filter((k) => this.isEjected(k));
  }
}
