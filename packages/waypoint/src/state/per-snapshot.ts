// Values derived from one snapshot, computed once per (snapshot, key) and dropped with the
// snapshot (a WeakMap): per-request lookups (endpoint lists, the policies of a target) that only
// change when the config does.

import type { WaypointSnapshot } from './waypoint-snapshot.ts';

export class PerSnapshot<T> {
  readonly #bySnapshot = new WeakMap<WaypointSnapshot, Map<string, T>>();

  get(snapshot: WaypointSnapshot, key: string, make: () => T): T {
    let m = this.#bySnapshot.get(snapshot);
    if (m === undefined) {
      m = new Map();
      this.#bySnapshot.set(snapshot, m);
    }
    let v = m.get(key);
    if (v === undefined) {
      v = make();
      m.set(key, v);
    }
    return v;
  }
}
