// Cluster state → translation → config store, debounced. Whatever feeds the state (the informers,
// or a directory of manifests in file mode) calls `schedule()` on every change; after `debounceMs`
// of quiet (at most `maxDelayMs` after the first change) the whole state is translated again and
// only the difference from the last publish goes into the ConfigStore (translate/delta.ts), so a
// one-pod change is a one-resource delta. Nothing is published until `ready()` says every source
// has synced: a half-listed cluster would look like mass deletion to every data plane.

import { createLogger, type Logger } from '@ambit/core/log';
import {
  RESOURCE_TYPES,
  resourceKey,
  type ResourceOf,
  type ResourceType,
} from '@ambit/core/mesh/stream-protocol';
import type { ConfigStore } from '../stream/config-store.ts';
import type { ClusterState, TranslateOptions } from '../translate/cluster-state.ts';
import { computeDelta, deltaSize, type MeshDelta } from '../translate/delta.ts';
import { translateCluster } from '../translate/translate-cluster.ts';
import type { MeshResources, Translation } from '../translate/translation.ts';

export interface TranslationLoopOptions {
  store: ConfigStore;
  state(): ClusterState;
  /** Every source has synced; until then nothing is published. */
  ready(): boolean;
  /** Read at every translation (the roots may change). */
  translateOptions(): TranslateOptions;
  /** Quiet time after a change before translating. Default 50 ms. */
  debounceMs?: number;
  /** A burst of changes is translated at the latest this long after its first. Default 500 ms. */
  maxDelayMs?: number;
  /** Called after every translation that was published (statuses for the status writer). */
  onTranslated?(t: Translation, delta: MeshDelta): void;
  log?: Logger;
}

export class TranslationLoop {
  readonly #o: TranslationLoopOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #firstAt: number | undefined;
  #published: MeshResources | undefined;
  #last: Translation | undefined;
  #warned = new Set<string>();
  #stopped = false;
  #translations = 0;

  constructor(opts: TranslationLoopOptions) {
    this.#o = opts;
    this.#log = opts.log ?? createLogger({ fields: { component: 'translation' } });
  }

  /** Something changed: translate soon. */
  schedule(): void {
    if (this.#stopped) return;
    const now = Date.now();
    this.#firstAt ??= now;
    const debounce = this.#o.debounceMs ?? 50;
    const wait = Math.max(0, Math.min(debounce, this.#firstAt + (this.#o.maxDelayMs ?? 500) - now));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Translates and publishes now (if ready). Returns whether it published. */
  flush(): boolean {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firstAt = undefined;
    if (this.#stopped || !this.#o.ready()) return false;
    const t = translateCluster(this.#o.state(), this.#o.translateOptions());
    const delta = computeDelta(this.#published, t.resources);
    for (const type of RESOURCE_TYPES) publishType(this.#o.store, type, delta);
    const first = this.#published === undefined;
    this.#published = t.resources;
    this.#last = t;
    this.#translations++;
    this.#logWarnings(t);
    if (first || deltaSize(delta) > 0) {
      this.#log.info('config translated', {
        initial: first,
        changed: deltaSize(delta),
        workloads: t.resources.Workload.length,
        services: t.resources.Service.length,
      });
    }
    this.#o.onTranslated?.(t, delta);
    return true;
  }

  /** The last published translation. */
  last(): Translation | undefined {
    return this.#last;
  }

  get translations(): number {
    return this.#translations;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #logWarnings(t: Translation): void {
    const now = new Set<string>();
    for (const w of t.warnings) {
      const k = `${w.object}\n${w.message}`;
      now.add(k);
      if (!this.#warned.has(k)) this.#log.warn(w.message, { object: w.object });
    }
    this.#warned = now;
  }
}

function publishType<T extends ResourceType>(store: ConfigStore, type: T, delta: MeshDelta): void {
  const d = delta[type];
  const changed = new Map<string, ResourceOf[T]>();
  for (const r of d.changed) changed.set(resourceKey(type, r), r);
  store.publish(type, { changed, removed: new Set(d.removed) });
}
