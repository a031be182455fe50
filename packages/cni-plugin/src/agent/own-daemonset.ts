// The node agent's view of its own DaemonSet, the facts shutdown-decision.ts decides on: a
// list+watch of that one object (fieldSelector metadata.name=<name>, so RBAC can grant it by
// resourceNames) and, at shutdown, one fresh GET. Failing to read it never stops the agent: the
// watch restarts with backoff, and an unanswered GET is a fact like any other.

import { setTimeout as delay } from 'node:timers/promises';
import {
  AppsV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type V1DaemonSet,
} from '@kubernetes/client-node';
import { createLogger, type Logger } from '@ambit/core/log';
import { reconnectDelay } from '@ambit/core/mesh/reconnect-delay';
import type { DaemonSetProbe, DaemonSetView, ShutdownFacts } from './shutdown-decision.ts';
import { watchSaysUninstalling } from './shutdown-decision.ts';
import { apiStatus } from '@ambit/core/kube-api-status';

export interface OwnDaemonSetOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  logger?: Logger;
  /** Called when the watch starts or stops saying "uninstalling". */
  onChange?(view: DaemonSetView, uninstalling: boolean): void;
}

export class OwnDaemonSet {
  readonly #opts: OwnDaemonSetOptions;
  readonly #apps: AppsV1Api;
  readonly #lw: ListWatch<V1DaemonSet>;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #view: DaemonSetView = 'unknown';
  #seen = false;
  #starting = false;
  #failed: unknown;

  constructor(opts: OwnDaemonSetOptions) {
    this.#opts = opts;
    this.#apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.#log = opts.logger ?? createLogger({ fields: { component: 'ambit-node-agent' } });
    const fieldSelector = `metadata.name=${opts.name}`;
    this.#lw = new ListWatch<V1DaemonSet>(
      `/apis/apps/v1/namespaces/${opts.namespace}/daemonsets`,
      new Watch(opts.kubeConfig),
      async () => {
        const list = await this.#apps.listNamespacedDaemonSet({
          namespace: opts.namespace,
          fieldSelector,
        });
        // A successful list that does not hold it: absent (the watch emits no delete for that).
        if (!list.items.some((d) => d.metadata?.name === opts.name)) this.#set('absent');
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    const seenNow = (d: V1DaemonSet): void =>
      this.#set(d.metadata?.deletionTimestamp ? 'deleting' : 'present');
    this.#lw.on('add', seenNow);
    this.#lw.on('update', seenNow);
    this.#lw.on('delete', () => this.#set('absent'));
    this.#lw.on('error', (err: unknown) => {
      if (this.#starting) {
        this.#failed = err ?? new Error('watch failed');
        return;
      }
      if (this.#abort.signal.aborted) return;
      this.#log.warn(`watch of DaemonSet ${this.id} failed; restarting it`, { err });
      void this.#run().catch(() => undefined);
    });
  }

  /** `namespace/name`. */
  get id(): string {
    return `${this.#opts.namespace}/${this.#opts.name}`;
  }

  get view(): DaemonSetView {
    return this.#view;
  }

  /** True once the watch saw the DaemonSet present. */
  get seen(): boolean {
    return this.#seen;
  }

  /** True while the watch says the DaemonSet is being (or has been) deleted. */
  get uninstalling(): boolean {
    return watchSaysUninstalling(this.#view, this.#seen);
  }

  /**
   * Starts the watch. Resolves after the first attempt (listed, or failed and retrying in the
   * background): the agent does not wait for this to serve CNI.
   */
  async start(): Promise<void> {
    const first = await this.#attempt();
    if (!first) void this.#run(1).catch(() => undefined);
  }

  /** One GET, bounded by `timeoutMs`. Never throws. */
  async probe(timeoutMs = 3000): Promise<DaemonSetProbe> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const got = await Promise.race([
        this.#apps.readNamespacedDaemonSet({
          namespace: this.#opts.namespace,
          name: this.#opts.name,
        }),
        late,
      ]);
      if (got === 'timeout') return { kind: 'failed', error: `no answer within ${timeoutMs} ms` };
      return { kind: 'present', deleting: Boolean(got.metadata?.deletionTimestamp) };
    } catch (err) {
      const status = apiStatus(err);
      if (status === 404) return { kind: 'not-found' };
      if (status === 401 || status === 403) return { kind: 'refused', status };
      return {
        kind: 'failed',
        error:
          status !== undefined
            ? `HTTP ${status}`
            : err instanceof Error
              ? err.message
              : String(err),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The facts for decideShutdown: the watch's view plus a fresh GET. */
  async shutdownFacts(timeoutMs?: number): Promise<ShutdownFacts> {
    const probe = await this.probe(timeoutMs);
    return { daemonSet: this.id, watched: this.#view, seen: this.#seen, probe };
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#lw.stop();
  }

  #set(view: DaemonSetView): void {
    if (view === 'present' || view === 'deleting') this.#seen = true;
    if (view === this.#view) return;
    const was = this.uninstalling;
    this.#view = view;
    const now = this.uninstalling;
    this.#log.info(`own DaemonSet ${this.id}: ${view}`, { uninstalling: now });
    if (was !== now) this.#opts.onChange?.(view, now);
  }

  /** One list+watch start; false when it failed. */
  async #attempt(): Promise<boolean> {
    this.#starting = true;
    this.#failed = undefined;
    try {
      await this.#lw.start();
    } catch (err) {
      this.#failed = err;
    } finally {
      this.#starting = false;
    }
    if (this.#failed === undefined) return true;
    this.#log.warn(`cannot list/watch DaemonSet ${this.id}; retrying`, { err: this.#failed });
    return false;
  }

  async #run(from = 0): Promise<void> {
    for (let attempt = from; ; attempt++) {
      if (attempt > 0) {
        await delay(reconnectDelay(attempt - 1, { initialMs: 500, maxMs: 30_000 }), undefined, {
          signal: this.#abort.signal,
        });
      }
      if (await this.#attempt()) return;
    }
  }
}
