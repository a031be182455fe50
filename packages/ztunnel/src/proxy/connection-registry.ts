// Every connection ztunnel is proxying, in one place: the drain closes them at the deadline, a
// policy or mTLS-mode change closes the inbound ones the new config denies, and endpoint choice
// reads the live outbound count per destination workload (least-loaded of two picks).

import { mtlsModeFor, type WorkloadUid, type Workload } from '@ambit/core/mesh/types';
import { recheckConnections, type LiveConnection } from '@ambit/core/policy/recheck-connections';
import type { L4Request } from '@ambit/core/policy/types';
import type { Drain, DrainRegistration } from '../drain.ts';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';

/** Why a live connection was closed by ztunnel (not by either end). */
export type CloseCause =
  /** An AuthorizationPolicy now denies it. */
  | { kind: 'policy'; reason: string }
  /** Its namespace became STRICT and it is plaintext. */
  | { kind: 'strict'; reason: string }
  /** Shutdown: the drain deadline passed. */
  | { kind: 'drain'; reason: string };

export interface LiveEntry {
  direction: 'inbound' | 'outbound';
  /** Inbound: the local workload it was accepted for. Outbound: the destination workload, if ztunnel chose one. */
  workload: Workload | undefined;
  /** Inbound only: what L4 authorization is re-checked against. */
  request?: L4Request;
  /** Tears the connection down (resets both sides); called at most once. */
  close(cause: CloseCause): void;
}

export interface RecheckResult {
  /** Connections closed, each with why. */
  closed: { entry: LiveEntry; cause: CloseCause }[];
}

export class ConnectionRegistry {
  readonly #live = new Map<LiveEntry, DrainRegistration | undefined>();
  readonly #outboundByWorkload = new Map<WorkloadUid, number>();
  readonly #drain: Drain | undefined;

  constructor(opts: { drain?: Drain } = {}) {
    this.#drain = opts.drain;
  }

  get size(): number {
    return this.#live.size;
  }

  /** Live outbound connections this ztunnel has to `w` (for endpoint choice). */
  activeTo(w: Workload): number {
    return this.#outboundByWorkload.get(w.uid) ?? 0;
  }

  /**
   * Tracks `entry` until the returned function is called (when the connection ends). While
   * draining, the drain closes it at once.
   */
  add(entry: LiveEntry): () => void {
    let closed = false;
    const once = (cause: CloseCause): void => {
      if (closed) return;
      closed = true;
      entry.close(cause);
    };
    const tracked: LiveEntry = { ...entry, close: once };
    const uid = entry.direction === 'outbound' ? entry.workload?.uid : undefined;
    if (uid !== undefined) this.#outboundByWorkload.set(uid, this.activeTo(entry.workload!) + 1);
    this.#live.set(tracked, undefined);
    const registration = this.#drain?.register(() =>
      once({ kind: 'drain', reason: 'ztunnel is shutting down: drain deadline reached' }),
    );
    if (this.#live.has(tracked)) this.#live.set(tracked, registration);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#live.get(tracked)?.unregister();
      this.#live.delete(tracked);
      if (uid !== undefined) {
        const n = (this.#outboundByWorkload.get(uid) ?? 1) - 1;
        if (n <= 0) this.#outboundByWorkload.delete(uid);
        else this.#outboundByWorkload.set(uid, n);
      }
    };
  }

  /**
   * Re-checks live inbound connections against a new snapshot: L4 authorization with the new
   * policy set (recheckConnections), and STRICT mode for plaintext ones. Closes the ones now
   * denied and returns them.
   */
  recheck(snapshot: MeshSnapshot): RecheckResult {
    const inbound: LiveConnection<LiveEntry>[] = [];
    const closed: RecheckResult['closed'] = [];
    for (const entry of this.#live.keys()) {
      if (entry.direction !== 'inbound' || entry.workload === undefined || !entry.request) continue;
      // Policies select by the workload's current labels and namespace.
      const workload = snapshot.workloads.get(entry.workload.uid) ?? entry.workload;
      if (
        entry.request.sourceId === undefined &&
        mtlsModeFor(snapshot.mesh, workload.namespace) === 'STRICT'
      ) {
        closed.push({
          entry,
          cause: {
            kind: 'strict',
            reason: `namespace ${workload.namespace} is now STRICT: plaintext connection closed`,
          },
        });
        continue;
      }
      inbound.push({ conn: entry, workload, request: entry.request });
    }
    for (const { conn, decision } of recheckConnections(inbound, [...snapshot.policies.values()])) {
      closed.push({
        entry: conn,
        cause: { kind: 'policy', reason: `now denied by policy: ${decision.reason}` },
      });
    }
    for (const c of closed) c.entry.close(c.cause);
    return { closed };
  }
}
