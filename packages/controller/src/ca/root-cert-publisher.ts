// Publishes the mesh root bundle as ConfigMap `ambit-root-cert` (key root-cert.pem) in every
// ambient namespace and every namespace with a Waypoint (its pods mount it), so workloads and
// waypoints can verify mesh certificates without asking the controller. Leader only; applied with
// server-side apply when a namespace needs it or the roots changed (remembered per leadership
// term). ConfigMaps in namespaces that leave the mesh are left in place (they hold only public
// certificates).

import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import type { ClusterWatcher } from '../kube/cluster-watcher.ts';
import type { KubeClients } from '../kube/kube-clients.ts';
import { namespaceIsAmbient } from '../translate/mesh-membership.ts';
import { FIELD_MANAGER } from '../waypoint/waypoint-reconciler.ts';
import { MANAGED_BY, ROOT_CERT_CONFIGMAP } from '../waypoint/waypoint-objects.ts';

export interface RootCertPublisherOptions {
  clients: KubeClients;
  watcher: ClusterWatcher;
  roots(): string;
  guard(what: string): void;
  isLeader(): boolean;
  log: Logger;
}

export class RootCertPublisher {
  readonly #o: RootCertPublisherOptions;
  readonly #done = new Map<string, string>();
  #running: Promise<void> | undefined;
  #again = false;

  constructor(opts: RootCertPublisherOptions) {
    this.#o = opts;
  }

  resetTerm(): void {
    this.#done.clear();
  }

  /** The namespaces that should carry the ConfigMap. */
  targets(): string[] {
    const out = new Set<string>();
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
        for (const namespace of this.targets()) {
          if (this.#done.get(namespace) === roots) continue;
          const ns = this.#o.watcher.get('namespaces', '', namespace);
          if (ns?.metadata?.deletionTimestamp !== undefined) continue;
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
            if ((err as { code?: unknown }).code === 'AMBIT_NOT_LEADER') return;
            this.#o.log.warn('cannot publish the root ConfigMap', { namespace, err });
          }
        }
      } while (this.#again);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }
}
