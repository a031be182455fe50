// Per-request endpoint choice: power of two choices over the least outstanding requests
// (linkerd2-proxy's and Envoy's least-request), skipping unhealthy and ejected endpoints.

import { WaypointNoEndpointError } from '@ambit/core/errors';
import { serviceKey } from '@ambit/core/mesh/types';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';
import type { UpstreamTarget } from '../routing/plan-request.ts';
import { endpointFor, HBONE_PORT, targetPortOf, type Endpoint } from './endpoint.ts';
import type { OutlierDetector } from './outlier-detector.ts';
import { PerSnapshot } from '../state/per-snapshot.ts';

export class Balancer {
  readonly #active = new Map<string, number>();
  readonly #outliers: OutlierDetector;
  readonly #random: () => number;
  readonly #hbonePort: number;
  readonly #endpoints = new PerSnapshot<{ all: Endpoint[]; peers: string[] }>();

  /** `hbonePort`: where endpoints' ztunnels listen (15008; tests use another). */
  constructor(outliers: OutlierDetector, opts: { random?: () => number; hbonePort?: number } = {}) {
    this.#outliers = outliers;
    this.#random = opts.random ?? Math.random;
    this.#hbonePort = opts.hbonePort ?? HBONE_PORT;
  }

  /** The candidate endpoints of a target (all of them, ejected or not). */
  endpoints(snapshot: WaypointSnapshot, target: UpstreamTarget): Endpoint[] {
    const td = snapshot.mesh.mesh.trustDomain;
    if (target.kind === 'workload')
      return [endpointFor(target.workload, target.port, td, this.#hbonePort)];
    const key = serviceKey(target.service);
    return (snapshot.mesh.endpoints.get(key) ?? [])
      .filter((e) => e.workload.healthy)
      .map((e) =>
        endpointFor(e.workload, targetPortOf(target.service, e, target.port), td, this.#hbonePort),
      );
  }

  pick(
    snapshot: WaypointSnapshot,
    target: UpstreamTarget,
  ): { endpoint: Endpoint; peers: readonly string[] } {
    const key =
      target.kind === 'service'
        ? `s ${serviceKey(target.service)} ${target.port}`
        : `w ${target.workload.uid} ${target.port}`;
    const { all, peers } = this.#endpoints.get(snapshot, key, () => {
      const all = this.endpoints(snapshot, target);
      return { all, peers: all.map((e) => e.key) };
    });
    if (all.length === 0) {
      const what = target.kind === 'service' ? serviceKey(target.service) : target.workload.name;
      throw new WaypointNoEndpointError(`${what} has no healthy endpoint`);
    }
    if (all.length === 1) {
      const only = all[0] as Endpoint;
      if (!this.#outliers.isEjected(only.key)) return { endpoint: only, peers };
    }
    const live = all.filter((e) => !this.#outliers.isEjected(e.key));
    const pool = live.length > 0 ? live : all;
    if (pool.length === 1) return { endpoint: pool[0] as Endpoint, peers };
    const i = Math.floor(this.#random() * pool.length);
    let j = Math.floor(this.#random() * (pool.length - 1));
    if (j >= i) j += 1;
    const a = pool[i] as Endpoint;
    const b = pool[j] as Endpoint;
    return { endpoint: this.load(a.key) <= this.load(b.key) ? a : b, peers };
  }

  load(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  /** Marks one request outstanding on `key`; call the returned function once when it ends. */
  begin(key: string): () => void {
    this.#active.set(key, this.load(key) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = this.load(key) - 1;
      if (n <= 0) this.#active.delete(key);
      else this.#active.set(key, n);
    };
  }
}
