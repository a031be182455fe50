// The Kubernetes PodSource: this node's Pods (fieldSelector spec.nodeName=<node>) and all
// Namespaces, each from a list+watch cache (@kubernetes/client-node ListWatch). Changes that can
// alter a decision (a pod appearing, going or changing its labels/annotations/ServiceAccount; a
// namespace's labels) notify the agent, which reconciles: labelling a namespace enrols its pods
// that are already running, unlabelling releases them.
//
// recordEnrolment is the pod annotation `ambit.dev/enrolled: <node>/<RFC 3339>` the controller
// reads (@ambit/core/mesh/ambient), written with a JSON merge patch that carries the pod's uid
// (the API server refuses it with 409 if the name now belongs to another pod), and removed
// (null) on release. A write that fails for another reason is retried with backoff; the newest
// wish per pod wins. It never throws: the pod is captured whether or not the API server heard.

import { setTimeout as delay } from 'node:timers/promises';
import {
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Namespace,
  type V1Pod,
} from '@kubernetes/client-node';
import { createLogger, type Logger } from '@ambit/core/log';
import { ENROLLED_ANNOTATION, enrolledMark } from '@ambit/core/mesh/ambient';
import { reconnectDelay } from '@ambit/core/mesh/reconnect-delay';
import type { NamespaceFacts, PodFacts, PodSource } from './pod-source.ts';
import { apiStatus } from '@ambit/core/kube-api-status';

export interface KubePodSourceOptions {
  kubeConfig: KubeConfig;
  /** This node's name: only its pods are watched; it prefixes the enrolment annotation. */
  node: string;
  logger?: Logger;
  /** Clock for the annotation's time (tests). */
  now?: () => Date;
}

/** The facts the agent decides on; undefined for an object without name, namespace or uid. */
export function podFactsOf(pod: V1Pod): PodFacts | undefined {
  const m = pod.metadata;
  if (!m?.name || !m.namespace || !m.uid) return undefined;
  return {
    uid: m.uid,
    name: m.name,
    namespace: m.namespace,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    labels: m.labels ?? {},
    annotations: m.annotations ?? {},
  };
}

/** The JSON merge patch that sets (enrolled) or removes the enrolment annotation of one pod. */
export function enrolmentPatch(
  uid: string,
  mark: string | undefined,
): { metadata: { uid: string; annotations: Record<string, string | null> } } {
  return { metadata: { uid, annotations: { [ENROLLED_ANNOTATION]: mark ?? null } } };
}

interface Watched<T extends KubernetesObject> {
  what: string;
  lw: ListWatch<T>;
  starting: boolean;
  failed: unknown;
}

interface PendingWrite {
  pod: PodFacts;
  mark: string | undefined;
}

export class KubePodSource implements PodSource {
  readonly #opts: KubePodSourceOptions;
  readonly #core: CoreV1Api;
  readonly #log: Logger;
  readonly #pods: Watched<V1Pod>;
  readonly #namespaces: Watched<V1Namespace>;
  readonly #listeners: (() => void)[] = [];
  readonly #abort = new AbortController();
  #notifyScheduled: NodeJS.Immediate | undefined;
  /** Annotation writes still to do, by pod uid (the newest wish replaces an older one). */
  readonly #pending = new Map<string, PendingWrite>();
  #retrying = false;

  constructor(opts: KubePodSourceOptions) {
    this.#opts = opts;
    this.#core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#log = opts.logger ?? createLogger({ fields: { component: 'ambit-node-agent' } });
    const watch = new Watch(opts.kubeConfig);
    const fieldSelector = `spec.nodeName=${opts.node}`;
    this.#pods = this.#watched(
      `pods on node ${opts.node}`,
      new ListWatch<V1Pod>(
        '/api/v1/pods',
        watch,
        () => this.#core.listPodForAllNamespaces({ fieldSelector }),
        false,
        undefined,
        fieldSelector,
      ),
      (a, b) => JSON.stringify(podFactsOf(a)) !== JSON.stringify(podFactsOf(b)),
    );
    this.#namespaces = this.#watched(
      'namespaces',
      new ListWatch<V1Namespace>(
        '/api/v1/namespaces',
        watch,
        () => this.#core.listNamespace(),
        false,
      ),
      (a, b) =>
        JSON.stringify(a.metadata?.labels ?? {}) !== JSON.stringify(b.metadata?.labels ?? {}),
    );
  }

  /** Lists and starts watching both; resolves once both caches hold a complete list (retries). */
  async start(): Promise<void> {
    await Promise.all([this.#run(this.#pods), this.#run(this.#namespaces)]);
  }

  getPod(namespace: string, name: string): Promise<PodFacts | undefined> {
    const cached = this.#pods.lw.get(name, namespace);
    if (cached) return Promise.resolve(podFactsOf(cached));
    // Not in the watch cache (yet): ask the API server; a pod that does not exist is unknown.
    return this.#core.readNamespacedPod({ name, namespace }).then(podFactsOf, (err: unknown) => {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    });
  }

  /** The pods in the watch cache (this node's). */
  watchedPods(): PodFacts[] {
    return this.#pods.lw.list().flatMap((p) => podFactsOf(p) ?? []);
  }

  getNamespace(name: string): NamespaceFacts | undefined {
    const ns = this.#namespaces.lw.get(name);
    return ns ? { name, labels: ns.metadata?.labels ?? {} } : undefined;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async recordEnrolment(pod: PodFacts, enrolled: boolean): Promise<void> {
    const mark = enrolled
      ? enrolledMark(this.#opts.node, this.#opts.now?.() ?? new Date())
      : undefined;
    this.#pending.set(pod.uid, { pod, mark });
    await this.#write(pod.uid);
    if (this.#pending.size > 0) this.#retryLater();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#listeners.length = 0;
    if (this.#notifyScheduled) clearImmediate(this.#notifyScheduled);
    await Promise.all([this.#pods.lw.stop(), this.#namespaces.lw.stop()]);
  }

  #watched<T extends KubernetesObject>(
    what: string,
    lw: ListWatch<T>,
    changed: (before: T, after: T) => boolean,
  ): Watched<T> {
    const w: Watched<T> = { what, lw, starting: false, failed: undefined };
    const before = new Map<string, T>();
    const key = (o: T): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    lw.on('add', (o) => {
      before.set(key(o), o);
      this.#notify();
    });
    lw.on('update', (o) => {
      const old = before.get(key(o));
      before.set(key(o), o);
      if (old === undefined || changed(old, o)) this.#notify();
    });
    lw.on('delete', (o) => {
      before.delete(key(o));
      this.#notify();
    });
    lw.on('error', (err: unknown) => {
      if (w.starting) {
        w.failed = err ?? new Error('watch failed');
        return;
      }
      if (this.#abort.signal.aborted) return;
      this.#log.warn(`watch of ${what} failed; restarting it`, { err });
      void this.#run(w).catch(() => undefined);
    });
    return w;
  }

  /** Starts (or restarts) one list+watch until its list succeeded; backs off between tries. */
  async #run<T extends KubernetesObject>(w: Watched<T>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      w.starting = true;
      w.failed = undefined;
      try {
        await w.lw.start();
      } catch (err) {
        w.failed = err;
      } finally {
        w.starting = false;
      }
      if (w.failed === undefined) return;
      this.#log.warn(`cannot list/watch ${w.what}; retrying`, { err: w.failed });
      await delay(reconnectDelay(attempt, { initialMs: 200, maxMs: 10_000 }), undefined, {
        signal: this.#abort.signal,
      });
    }
  }

  /** Coalesces a burst of events (an initial list, a namespace relabel) into one notification. */
  #notify(): void {
    if (this.#notifyScheduled || this.#listeners.length === 0) return;
    this.#notifyScheduled = setImmediate(() => {
      this.#notifyScheduled = undefined;
      for (const l of this.#listeners) l();
    });
  }

  /** One attempt at the pending write of `uid`; it stays pending only on a retryable failure. */
  async #write(uid: string): Promise<void> {
    const want = this.#pending.get(uid);
    if (!want) return;
    const { pod, mark } = want;
    try {
      await this.#core.patchNamespacedPod(
        {
          name: pod.name,
          namespace: pod.namespace,
          body: enrolmentPatch(pod.uid, mark),
          fieldManager: 'ambit-node-agent',
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      if (this.#pending.get(uid) === want) this.#pending.delete(uid);
    } catch (err) {
      const status = apiStatus(err);
      // 404: the pod is gone; 409: the name belongs to another pod now. Nothing to record.
      if (status === 404 || status === 409) {
        if (this.#pending.get(uid) === want) this.#pending.delete(uid);
        return;
      }
      this.#log.warn('could not record the enrolment on the pod; will retry', {
        pod: `${pod.namespace}/${pod.name}`,
        enrolled: mark !== undefined,
        err,
      });
    }
  }

  #retryLater(): void {
    if (this.#retrying) return;
    this.#retrying = true;
    void (async () => {
      for (let attempt = 0; this.#pending.size > 0; attempt++) {
        await delay(reconnectDelay(attempt, { initialMs: 500, maxMs: 30_000 }), undefined, {
          signal: this.#abort.signal,
        });
        for (const uid of [...this.#pending.keys()]) await this.#write(uid);
      }
    })()
      .catch(() => undefined)
      .finally(() => (this.#retrying = false));
  }
}
