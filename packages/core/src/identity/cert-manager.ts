import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CertManagerClosedError } from '../errors.ts';
import type { SpiffeId } from './spiffe-id.ts';
import type { TlsIdentity } from './tls-identity.ts';

/** Gets a fresh certificate for `id`: the controller's CA (CaClient.issuer) or a local CA (dev). */
export type CertIssuer = (id: SpiffeId) => Promise<TlsIdentity>;

export interface CertManagerOptions {
  issuer: CertIssuer;
  /** First retry delay after a failed request (default 1 s); doubles per failure. */
  initialBackoffMs?: number;
  /** Retry delay cap (default 5 min). */
  maxBackoffMs?: number;
  /** Retry delays are shortened by up to this fraction at random (default 0.2). */
  backoffJitter?: number;
  /**
   * Renewal comes at half the certificate's lifetime, earlier by up to this fraction of the
   * lifetime at random (default 0.05), so identities issued together do not renew together.
   */
  renewJitter?: number;
  /** [0, 1) source for the jitters (tests pass a constant). */
  random?: () => number;
}

/**
 * pending: first request in flight, no certificate yet. valid: certificate held, renewal
 * scheduled. renewing: certificate held, renewal in flight. retrying: the last request failed,
 * the held certificate is still valid, a retry is scheduled. failed: the last request failed and
 * there is no valid certificate (never got one, or it expired); a retry is scheduled.
 */
export type CertState = 'pending' | 'valid' | 'renewing' | 'retrying' | 'failed';

/** One identity, for /config_dump. Times are ISO 8601. */
export interface CertSnapshot {
  id: SpiffeId;
  state: CertState;
  /** Hex serial of the held leaf. */
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** When the next renewal or retry starts. */
  nextAttemptAt?: string;
  /** Failed requests since the last success. */
  failures: number;
  lastError?: string;
}

export interface CertManagerEvents {
  /** A held certificate was replaced: switch new handshakes to `identity` (live ones keep the old). */
  rotated: [id: SpiffeId, identity: TlsIdentity];
  /** A request failed; the next attempt is in `retryInMs`. */
  failed: [id: SpiffeId, error: Error, retryInMs: number];
}

interface Entry {
  id: SpiffeId;
  identity?: TlsIdentity;
  serial?: string;
  inflight?: Promise<TlsIdentity>;
  timer?: NodeJS.Timeout;
  nextAttemptAt?: number;
  failures: number;
  lastError?: Error;
}

/** setTimeout fires at once above 2^31-1 ms; longer waits are made of several. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function serialOf(identity: TlsIdentity): string | undefined {
  try {
    return new X509Certificate(identity.certChain).serialNumber.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Certificates per local identity (ztunnel's SecretManager): fetched on first `get`, one request
 * shared by concurrent callers, cached, renewed at half-life, retried with capped exponential
 * backoff while the old certificate keeps being served, and announced with 'rotated' so holders
 * (HboneServer.updateIdentity, the pool) switch. `forget` when the last workload of an identity
 * leaves the node.
 */
export class CertManager extends EventEmitter<CertManagerEvents> {
  readonly #issuer: CertIssuer;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #backoffJitter: number;
  readonly #renewJitter: number;
  readonly #random: () => number;
  readonly #entries = new Map<SpiffeId, Entry>();
  #closed = false;

  constructor(opts: CertManagerOptions) {
    super();
    this.#issuer = opts.issuer;
    this.#initialBackoffMs = opts.initialBackoffMs ?? 1_000;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 5 * 60_000;
    this.#backoffJitter = opts.backoffJitter ?? 0.2;
    this.#renewJitter = opts.renewJitter ?? 0.05;
    this.#random = opts.random ?? Math.random;
  }

  /**
   * The certificate for `id`. Valid cached one: at once. Request in flight: shares it. The last
   * request failed and nothing valid is held: rejects with that error without a new request (the
   * scheduled retry runs in the background). Otherwise starts a request.
   */
  get(id: SpiffeId): Promise<TlsIdentity> {
    if (this.#closed) {
      return Promise.reject(new CertManagerClosedError('certificate manager is closed'));
    }
    const entry = this.#entries.get(id);
    if (entry === undefined) {
      const fresh: Entry = { id, failures: 0 };
      this.#entries.set(id, fresh);
      return this.#attempt(fresh);
    }
    const held = this.#usable(entry);
    if (held) return Promise.resolve(held);
    if (entry.inflight) return entry.inflight;
    if (entry.lastError) return Promise.reject(entry.lastError);
    return this.#attempt(entry); // expired with no failure recorded (e.g. clock jump)
  }

  /** The valid certificate held for `id`, if any; never requests one. */
  peek(id: SpiffeId): TlsIdentity | undefined {
    const entry = this.#entries.get(id);
    return entry && this.#usable(entry);
  }

  /** Drops `id` (its last workload left the node): cancels its timers; an in-flight result is discarded. */
  forget(id: SpiffeId): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(id);
  }

  /** Forgets every identity; later `get` calls reject with AMBIT_CERT_MANAGER_CLOSED. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#entries.keys()]) this.forget(id);
    this.removeAllListeners();
  }

  /** Every identity held or wanted, sorted by id. */
  snapshot(): CertSnapshot[] {
    return [...this.#entries.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => {
        const s: CertSnapshot = { id: e.id, state: this.#state(e), failures: e.failures };
        if (e.serial !== undefined) s.serial = e.serial;
        if (e.identity) {
          s.notBefore = e.identity.notBefore.toISOString();
          s.notAfter = e.identity.notAfter.toISOString();
        }
        if (e.nextAttemptAt !== undefined && !e.inflight) {
          s.nextAttemptAt = new Date(e.nextAttemptAt).toISOString();
        }
        if (e.lastError) s.lastError = e.lastError.message;
        return s;
      });
  }

  #usable(entry: Entry): TlsIdentity | undefined {
    const identity = entry.identity;
    return identity && Date.now() < identity.notAfter.getTime() ? identity : undefined;
  }

  #state(e: Entry): CertState {
    const valid = this.#usable(e) !== undefined;
    if (e.inflight) return e.identity ? 'renewing' : 'pending';
    if (e.lastError) return valid ? 'retrying' : 'failed';
    return valid ? 'valid' : 'failed';
  }

  #attempt(entry: Entry): Promise<TlsIdentity> {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.nextAttemptAt = undefined;
    const request = (async () => this.#issuer(entry.id))().then(
      (identity) => {
        if (this.#entries.get(entry.id) === entry) this.#succeeded(entry, identity);
        return identity;
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        if (this.#entries.get(entry.id) === entry) this.#failed(entry, error);
        throw error;
      },
    );
    entry.inflight = request;
    // Renewals run with no caller; their failures are handled above.
    request.catch(() => {});
    return request;
  }

  #succeeded(entry: Entry, identity: TlsIdentity): void {
    const previous = entry.identity;
    entry.inflight = undefined;
    entry.identity = identity;
    entry.serial = serialOf(identity);
    entry.failures = 0;
    entry.lastError = undefined;
    // Half of the lifetime left from now, not from notBefore: CAs backdate notBefore for peers
    // with slow clocks (Ambit's by 5 min), and with a short TTL the backdated half-life is already
    // past on arrival, which renewed a 60 s certificate every second.
    const start = Math.max(identity.notBefore.getTime(), Date.now());
    const lifetime = identity.notAfter.getTime() - start;
    const fraction = 0.5 - this.#renewJitter * this.#random();
    // Never sooner than the first backoff step: a CA handing out nearly-expired certificates must
    // not make us ask again in a tight loop.
    const at = Math.max(start + lifetime * fraction, Date.now() + this.#initialBackoffMs);
    this.#scheduleAt(entry, at);
    if (previous) this.#emit('rotated', entry.id, identity);
  }

  #failed(entry: Entry, error: Error): void {
    entry.inflight = undefined;
    entry.failures++;
    entry.lastError = error;
    const exp = this.#initialBackoffMs * 2 ** Math.min(entry.failures - 1, 52);
    const delay = Math.round(
      Math.min(exp, this.#maxBackoffMs) * (1 - this.#backoffJitter * this.#random()),
    );
    this.#scheduleAt(entry, Date.now() + delay);
    this.#emit('failed', entry.id, error, delay);
  }

  #scheduleAt(entry: Entry, at: number): void {
    clearTimeout(entry.timer);
    entry.nextAttemptAt = at;
    const arm = () => {
      const wait = at - Date.now();
      entry.timer = setTimeout(
        () => {
          if (this.#entries.get(entry.id) !== entry) return;
          if (Date.now() < at) arm();
          else void this.#attempt(entry);
        },
        Math.max(0, Math.min(wait, MAX_TIMER_MS)),
      );
      entry.timer.unref();
    };
    arm();
  }

  #emit<K extends keyof CertManagerEvents>(event: K, ...args: CertManagerEvents[K]): void {
    try {
      // EventEmitter's generic emit cannot relate K to its args here; the signature above does.
      (this.emit as (e: K, ...a: CertManagerEvents[K]) => boolean)(event, ...args);
    } catch {
      // A listener's bug must not stop renewals.
    }
  }
}
