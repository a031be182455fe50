// Publishes the mesh root bundle as ConfigMap `ambit-root-cert` (key root-cert.pem) in every
// ambient namespace and every namespace with a Waypoint (its pods mount it), so workloads and
// waypoints can verify mesh certificates without asking the controller. Leader only; applied with
// server-side apply when a namespace needs it or the roots changed (remembered per leadership
// term). When a namespace leaves the mesh (loses its ambient label and has no Waypoint) its
// ConfigMap is deleted, but only one the controller made (label app.kubernetes.io/managed-by=
// ambit-controller, checked on a fresh read and guarded by uid/resourceVersion preconditions): the
// namespaces published this term, plus, once per term, every labelled one a cluster-wide list by
// name finds (namespaces that left while no replica led).

import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import type { ClusterWatcher } from '../kube/cluster-watcher.ts';
import { apiStatus, type KubeClients } from '../kube/kube-clients.ts';
import { namespaceIsAmbient } from '../translate/mesh-membership.ts';
import { FIELD_MANAGER } from '../waypoint/waypoint-reconciler.ts';
import { MANAGED_BY, ROOT_CERT_CONFIGMAP } from '../waypoint/waypoint-objects.ts';

export interface RootCertPublisherOptions {
  clients: KubeClients;
  watcher: ClusterWatcher;
  roots(): string;
  /**
   * Namespaces that always carry the ConfigMap whatever their labels: the controller's own
   * (ztunnel, installed there, mounts the roots from it to verify the controller on 15012).
   */
  alwaysIn?: readonly string[];
  guard(what: string): void;
  isLeader(): boolean;
  log: Logger;
}

export class RootCertPublisher {
  readonly #o: RootCertPublisherOptions;
  /** Namespace → the roots published there this term. */
  readonly #done = new Map<string, string>();
  /** Namespaces that may hold our ConfigMap although they are no longer targets. */
  readonly #stale = new Set<string>();
  #swept = false;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(opts: RootCertPublisherOptions) {
    this.#o = opts;
  }

  resetTerm(): void {
    this.#done.clear();
    this.#swept = false;
  }

  /** The namespaces that should carry the ConfigMap. */
  targets(): string[] {
    const out = new Set<string>(this.#o.alwaysIn ?? []);
    for (const ns of this.#o.watcher.cached('namespaces')) {
      if (namespaceIsAmbient(ns) && ns.metadata?.name !== undefined) out.add(ns.metadata.name);
    }
    for (const wp of this.#o.watcher.cached('waypoints')) {
      if (wp.metadata?.namespace !== undefined) out.add(wp.metadata.namespace);
    }
    return [...out].sort();
  }

  sync(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        const roots = this.#o.roots();
        if (!this.#o.isLeader() || !this.#o.watcher.synced || roots === '') return;
        const targets = this.targets();
        for (const namespace of targets) {
          if (!(await this.#publish(namespace, roots))) return;
        }
        const wanted = new Set(targets);
        if (!this.#swept && !(await this.#sweep())) return;
        for (const namespace of this.#done.keys()) {
          if (!wanted.has(namespace)) this.#stale.add(namespace);
        }
        for (const namespace of [...this.#stale].sort()) {
          if (wanted.has(namespace)) {
            this.#stale.delete(namespace);
            continue;
          }
          if (!(await this.#remove(namespace))) return;
        }
      } while (this.#again);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Applies the ConfigMap in `namespace`; false when leadership is gone (stop the pass). */
  async #publish(namespace: string, roots: string): Promise<boolean> {
    if (this.#done.get(namespace) === roots) return true;
    const ns = this.#o.watcher.get('namespaces', '', namespace);
    if (ns?.metadata?.deletionTimestamp !== undefined) return true;
    try {
      this.#o.guard(`ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP}`);
      await this.#o.clients.core.patchNamespacedConfigMap(
        {
          namespace,
          name: ROOT_CERT_CONFIGMAP,
          fieldManager: FIELD_MANAGER,
          force: true,
          body: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { ...MANAGED_BY } },
            data: { 'root-cert.pem': roots },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
      this.#done.set(namespace, roots);
    } catch (err) {
      if (isNotLeader(err)) return false;
      this.#o.log.warn('cannot publish the root ConfigMap', { namespace, err });
    }
    return true;
  }

  /** Once per term: every namespace holding a ConfigMap of ours becomes a removal candidate. */
  async #sweep(): Promise<boolean> {
    try {
      const list = await this.#o.clients.core.listConfigMapForAllNamespaces({
        fieldSelector: `metadata.name=${ROOT_CERT_CONFIGMAP}`,
        labelSelector: MANAGED_BY_SELECTOR,
      });
      for (const cm of list.items) {
        if (cm.metadata?.namespace !== undefined) this.#stale.add(cm.metadata.namespace);
      }
      this.#swept = true;
    } catch (err) {
      if (isNotLeader(err)) return false;
      this.#o.log.warn('cannot list root ConfigMaps', { err });
    }
    return true;
  }

  /** Deletes our ConfigMap from a namespace that left the mesh; leaves anyone else's alone. */
  async #remove(namespace: string): Promise<boolean> {
    try {
      const cm = await this.#o.clients.core
        .readNamespacedConfigMap({ namespace, name: ROOT_CERT_CONFIGMAP })
        .catch((err: unknown) => {
          if (apiStatus(err) === 404) return undefined;
          throw err;
        });
      const ours = Object.entries(MANAGED_BY).every(([k, v]) => cm?.metadata?.labels?.[k] === v);
      if (cm !== undefined && ours) {
        this.#o.guard(`ConfigMap ${namespace}/${ROOT_CERT_CONFIGMAP}`);
        await this.#o.clients.core
          .deleteNamespacedConfigMap({
            namespace,
            name: ROOT_CERT_CONFIGMAP,
            body: {
              preconditions: {
                uid: cm.metadata?.uid,
                resourceVersion: cm.metadata?.resourceVersion,
              },
            },
          })
          .catch((err: unknown) => {
            // 409 (changed since the read) is logged below and retried on the next pass.
            if (apiStatus(err) !== 404) throw err;
          });
        this.#o.log.info('deleted the root ConfigMap of a namespace that left the mesh', {
          namespace,
        });
      }
      this.#done.delete(namespace);
      this.#stale.delete(namespace);
    } catch (err) {
      if (isNotLeader(err)) return false;
      this.#o.log.warn('cannot delete the root ConfigMap', { namespace, err });
    }
    return true;
  }
}

const MANAGED_BY_SELECTOR = Object.entries(MANAGED_BY)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');

const isNotLeader = (err: unknown): boolean =>
  (err as { code?: unknown }).code === 'AMBIT_NOT_LEADER';
