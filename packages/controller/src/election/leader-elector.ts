// Leader election on a coordination.k8s.io/v1 Lease, for writes only: every replica serves the
// config stream and the CA; only the holder of the Lease writes (Waypoint objects, statuses, the
// CA Secret, root ConfigMaps). Same algorithm as client-go's leaderelection:
//
// - Every `retryPeriodMs` a replica reads the Lease. The holder renews it (renewTime) with an
//   optimistic-concurrency update (resourceVersion), so two replicas can never both succeed.
// - Another replica takes the Lease over only when its record has not changed for
//   `leaseDurationMs` of *its own* clock (the time it observed the record, not the holder's
//   renewTime: clocks of different machines are never compared).
// - The holder considers itself leader only until `leaseDurationMs - renewMarginMs` after its
//   last successful renewal, by its own clock; `isLeader()` turns false by itself when renewals
//   fail, before anyone else may take over. Writes go through `guard()`, which checks it.

import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { NotLeaderError } from '@ambit/core/errors';
import { createLogger, type Logger } from '@ambit/core/log';
import { apiStatus } from '../kube/kube-clients.ts';

export interface LeaderElectorOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  /** Lease name (default ambit-controller). */
  name?: string;
  /** This replica (its pod name). */
  identity: string;
  /** Default 15 s. */
  leaseDurationMs?: number;
  /** Default 2 s. */
  retryPeriodMs?: number;
  /** The holder stops writing this long before its lease could expire (default retryPeriodMs). */
  renewMarginMs?: number;
  onStartedLeading?(): void;
  onStoppedLeading?(): void;
  log?: Logger;
  now?: () => number;
}

export class LeaderElector {
  readonly identity: string;
  readonly #o: LeaderElectorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #name: string;
  readonly #durationMs: number;
  readonly #retryMs: number;
  /** Until when (local clock) we may act as leader. */
  #leaderUntil = 0;
  #wasLeader = false;
  #observed: { record: string; at: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #writes = 0;
  #running: Promise<void> = Promise.resolve();

  constructor(opts: LeaderElectorOptions) {
    this.#o = opts;
    this.identity = opts.identity;
    this.#name = opts.name ?? 'ambit-controller';
    this.#durationMs = opts.leaseDurationMs ?? 15_000;
    this.#retryMs = opts.retryPeriodMs ?? 2_000;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? createLogger({ fields: { component: 'leader-election' } });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Holds the Lease now (by this replica's clock, with the renewal margin). */
  isLeader(): boolean {
    return !this.#stopped && this.#now() < this.#leaderUntil;
  }

  /** Throws NotLeaderError unless leader; counts the write. Call right before every write. */
  guard(what: string): void {
    if (!this.isLeader()) {
      throw new NotLeaderError(`${this.identity} does not hold the Lease; not writing ${what}`);
    }
    this.#writes++;
  }

  /** Writes made through guard(). */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Stops campaigning. `release` (a clean shutdown) gives the Lease up at once so another replica
   * takes over without waiting for it to expire; without it (as after a crash) it just expires.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    const was = this.#now() < this.#leaderUntil;
    this.#leaderUntil = 0;
    this.#changed();
    if (opts.release && was) {
      try {
        const lease = await this.#read();
        if (lease?.spec?.holderIdentity === this.identity) {
          lease.spec.holderIdentity = undefined;
          lease.spec.renewTime = undefined;
          lease.spec.acquireTime = undefined;
          await this.#o.coordination.replaceNamespacedLease({
            namespace: this.#o.namespace,
            name: this.#name,
            body: lease,
          });
        }
      } catch (err) {
        this.#log.warn('could not release the Lease; it will expire', { err });
      }
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.#attempt()
      .catch((err: unknown) => this.#log.warn('leader election attempt failed', { err }))
      .finally(() => {
        this.#changed();
        if (this.#stopped) return;
        const untilExpiry = this.#leaderUntil - this.#now();
        // Wake up in time to notice our own expiry even when the API server does not answer.
        const wait = untilExpiry > 0 ? Math.min(this.#retryMs, untilExpiry + 1) : this.#retryMs;
        this.#timer = setTimeout(() => this.#tick(), wait);
        this.#timer.unref();
      });
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#o.coordination.readNamespacedLease({
        namespace: this.#o.namespace,
        name: this.#name,
      });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async #attempt(): Promise<void> {
    const started = this.#now();
    const lease = await this.#read();
    const durationSeconds = Math.ceil(this.#durationMs / 1000);
    const now = new V1MicroTime(started);
    if (lease === undefined) {
      await this.#o.coordination.createNamespacedLease({
        namespace: this.#o.namespace,
        body: {
          metadata: { name: this.#name, namespace: this.#o.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      this.#acquired(started);
      return;
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}`;
    if (this.#observed?.record !== record) this.#observed = { record, at: started };
    const holder = spec.holderIdentity ?? '';
    const mine = holder === this.identity;
    const expired =
      holder === '' ||
      started - this.#observed.at >= (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (!mine && !expired) return;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(!mine && {
          acquireTime: now,
          leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
        }),
      },
    };
    try {
      await this.#o.coordination.replaceNamespacedLease({
        namespace: this.#o.namespace,
        name: this.#name,
        body,
      });
    } catch (err) {
      if (apiStatus(err) === 409) return; // someone else wrote it first: look again next time
      throw err;
    }
    this.#acquired(started);
  }

  /** A create or update with us as holder succeeded; `at` is when we *started* the attempt. */
  #acquired(at: number): void {
    const margin = this.#o.renewMarginMs ?? this.#retryMs;
    this.#leaderUntil = at + this.#durationMs - margin;
    this.#observed = undefined;
  }

  #changed(): void {
    const leader = this.isLeader();
    if (leader === this.#wasLeader) return;
    this.#wasLeader = leader;
    this.#log.info(leader ? 'became leader' : 'stopped leading', { identity: this.identity });
    try {
      if (leader) this.#o.onStartedLeading?.();
      else this.#o.onStoppedLeading?.();
    } catch (err) {
      this.#log.error('leader callback failed', { err });
    }
  }
}
