// One watched kind: a client-node informer (list, then watch) that keeps itself alive. client-node's
// ListWatch reconnects a watch that ends cleanly and relists on 410 Gone, but after any other
// error (API server down, connection reset, list refused) it calls its error handlers and stops:
// here it is restarted with capped exponential backoff, resuming from its last resourceVersion
// (the API server answers 410 when that is too old, and the informer relists). Its cache is kept
// across restarts, so a controller that loses the API server keeps translating what it last saw.
//
// An absent kind (404: the CRD is not installed, e.g. no Gateway API) counts as listed and empty,
// and keeps being retried with the same backoff, so installing the CRD later is picked up.

import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import { apiStatus } from './kube-clients.ts';

export interface WatchedKind<T extends KubernetesObject> {
  /** For logs: `Pod`, `HTTPRoute`... */
  kind: string;
  /** The collection path for all namespaces: `/api/v1/pods`. */
  path: string;
  list(): Promise<KubernetesListObject<T>>;
  /** Watch only objects with these labels (the list must apply the same selector). */
  labelSelector?: string;
}

export interface ResilientInformerOptions {
  log: Logger;
  /** Called after every add, update or delete the cache applied. */
  onChange(): void;
  /** First restart delay (default 500 ms), doubled per failure up to maxBackoffMs (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly kind: string;
  readonly #o: ResilientInformerOptions;
  readonly #informer: Informer<T> & ObjectCache<T>;
  #synced = false;
  #absent = false;
  #stopped = false;
  #backoffMs = 0;
  #retry: NodeJS.Timeout | undefined;
  #restarts = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(kc: KubeConfig, watched: WatchedKind<T>, opts: ResilientInformerOptions) {
    this.kind = watched.kind;
    this.#o = opts;
    const list = async (): Promise<KubernetesListObject<T>> => {
      try {
        const result = await watched.list();
        this.#absent = false;
        this.#markSynced();
        return result;
      } catch (err) {
        if (apiStatus(err) !== 404) throw err;
        if (!this.#absent) {
          opts.log.warn(
            'kind not served by the API server (CRD not installed?); treated as empty',
            {
              kind: this.kind,
            },
          );
        }
        this.#absent = true;
        this.#markSynced();
        // An empty list with no resourceVersion: the watch then fails (404) and is retried.
        return { apiVersion: 'v1', kind: 'List', items: [], metadata: {} };
      }
    };
    this.#informer = makeInformer(kc, watched.path, list, watched.labelSelector);
    const changed = (): void => {
      this.#backoffMs = 0;
      opts.onChange();
    };
    this.#informer.on('add', changed);
    this.#informer.on('update', changed);
    this.#informer.on('delete', changed);
    this.#informer.on('error', (err: unknown) => this.#onError(err));
  }

  /** Starts listing and watching; never throws (failures are retried). */
  start(): void {
    this.#stopped = false;
    this.#run();
  }

  /** Listed at least once (possibly empty because the kind is absent). Stays true across restarts. */
  get synced(): boolean {
    return this.#synced;
  }

  /** How many times the watch was restarted after an error. */
  get restarts(): number {
    return this.#restarts;
  }

  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  list(): readonly T[] {
    return this.#informer.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#informer.stop();
  }

  #markSynced(): void {
    this.#backoffMs = 0;
    if (this.#synced) return;
    this.#synced = true;
    for (const w of this.#waiters.splice(0)) w();
  }

  #run(): void {
    this.#informer.start().catch((err: unknown) => this.#onError(err));
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    const min = this.#o.minBackoffMs ?? 500;
    const max = this.#o.maxBackoffMs ?? 30_000;
    this.#backoffMs = Math.min(max, this.#backoffMs === 0 ? min : this.#backoffMs * 2);
    if (!this.#absent) {
      this.#o.log.warn('watch failed; restarting', {
        kind: this.kind,
        err,
        status: apiStatus(err) ?? (err as { statusCode?: number } | null)?.statusCode,
        retryInMs: this.#backoffMs,
      });
    }
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#stopped) return;
      this.#restarts++;
      this.#run();
    }, this.#backoffMs);
    this.#retry.unref();
  }
}
