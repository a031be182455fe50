// Keeps each Waypoint's ServiceAccount, Deployment and Service (waypoint-objects.ts) in place with
// server-side apply (field manager `ambit-controller`), and reports on the Waypoint:
//   Accepted   True/Accepted, or False/NameConflict when an object of that name exists that this
//              Waypoint does not own (it is never taken over).
//   Programmed True/Programmed when the Deployment has an available replica and the Service a
//              cluster IP; False/Pending with what is missing; False/NotAccepted otherwise.
//   addresses  the Service's cluster IPs.
// Deletion is the garbage collector's: every object is owned by the Waypoint.
//
// Leader only: every write passes `guard`. Objects are applied when what the Waypoint asks for
// changed (a digest per Waypoint, forgotten on each new term) or one of them is missing.

import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import type { ClusterWatcher } from '../kube/cluster-watcher.ts';
import { AMBIT_GROUP, AMBIT_VERSION } from '../kube/cluster-watcher.ts';
import { apiStatus, type KubeClients } from '../kube/kube-clients.ts';
import { ResilientInformer } from '../kube/resilient-informer.ts';
import type { Waypoint } from '../translate/cluster-state.ts';
import { WAYPOINT_LABEL } from '../translate/names.ts';
import { mergeConditions } from '../status/merge-conditions.ts';
import type { StatusCondition } from '../translate/translation.ts';
import { waypointObjects, type WaypointDeploymentConfig } from './waypoint-objects.ts';

export const FIELD_MANAGER = 'ambit-controller';

export interface WaypointReconcilerOptions {
  clients: KubeClients;
  watcher: ClusterWatcher;
  config: WaypointDeploymentConfig;
  guard(what: string): void;
  isLeader(): boolean;
  log: Logger;
  debounceMs?: number;
}

const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

function ownedBy(meta: V1ObjectMeta | undefined, wp: Waypoint): boolean {
  return meta?.ownerReferences?.some((o) => o.uid === wp.metadata?.uid) ?? false;
}

export class WaypointReconciler {
  readonly #o: WaypointReconcilerOptions;
  /** The waypoint Deployments (label ambit.dev/waypoint), for their status. */
  readonly deployments: ResilientInformer<V1Deployment>;
  readonly #applied = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(opts: WaypointReconcilerOptions) {
    this.#o = opts;
    this.deployments = new ResilientInformer<V1Deployment>(
      opts.clients.kc,
      {
        kind: 'Deployment',
        path: '/apis/apps/v1/deployments',
        labelSelector: WAYPOINT_LABEL,
        list: async () =>
          await opts.clients.apps.listDeploymentForAllNamespaces({
            labelSelector: WAYPOINT_LABEL,
          }),
      },
      { log: opts.log, onChange: () => this.schedule() },
    );
  }

  start(): void {
    this.#stopped = false;
    this.deployments.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.deployments.stop();
    await this.#running;
  }

  /** A new leadership term: re-apply everything once. */
  resetTerm(): void {
    this.#applied.clear();
    this.schedule();
  }

  schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reconcileAll(), this.#o.debounceMs ?? 50);
  }

  /** One pass over every Waypoint (coalesced: a call during a pass runs one more pass after it). */
  reconcileAll(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        if (!this.#o.isLeader() || !this.#o.watcher.synced || !this.deployments.synced) return;
        for (const wp of this.#o.watcher.cached('waypoints')) {
          if (this.#stopped) return;
          try {
            await this.#reconcile(wp);
          } catch (err) {
            if ((err as { code?: unknown }).code === 'AMBIT_NOT_LEADER') return;
            this.#o.log.warn('waypoint reconcile failed', {
              waypoint: `${wp.metadata?.namespace}/${wp.metadata?.name}`,
              err,
            });
          }
        }
      } while (this.#again);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #reconcile(wp: Waypoint): Promise<void> {
    const m = wp.metadata;
    if (m?.name === undefined || m.namespace === undefined || m.deletionTimestamp !== undefined)
      return;
    const { name, namespace } = m;
    const c = this.#o.clients;
    const objs = waypointObjects(wp, this.#o.config);
    const deployment = this.deployments.get(name, namespace);
    const service = this.#o.watcher.get('services', namespace, name);

    // Never take over an object of the same name that someone else made.
    const conflicts: string[] = [];
    if (deployment !== undefined && !ownedBy(deployment.metadata, wp))
      conflicts.push(`Deployment ${namespace}/${name}`);
    if (service !== undefined && !ownedBy(service.metadata as V1ObjectMeta, wp))
      conflicts.push(`Service ${namespace}/${name}`);
    if (conflicts.length === 0) {
      const sa = await c.core
        .readNamespacedServiceAccount({ namespace, name })
        .catch((err: unknown) => {
          if (apiStatus(err) === 404) return undefined;
          throw err;
        });
      if (sa !== undefined && !ownedBy(sa.metadata, wp))
        conflicts.push(`ServiceAccount ${namespace}/${name}`);
    }

    const gen = m.generation === undefined ? {} : { observedGeneration: m.generation };
    let conditions: StatusCondition[];
    let addresses: { type: string; value: string }[] = [];
    if (conflicts.length > 0) {
      const what = conflicts.join(', ');
      conditions = [
        {
          type: 'Accepted',
          status: 'False',
          reason: 'NameConflict',
          message: `${what} already exists and is not this Waypoint's; rename the Waypoint or delete ${conflicts.length > 1 ? 'them' : 'it'}`,
          ...gen,
        },
        {
          type: 'Programmed',
          status: 'False',
          reason: 'NotAccepted',
          message: 'the Waypoint is not accepted',
          ...gen,
        },
      ];
    } else {
      const digest = createHash('sha256').update(JSON.stringify(objs)).digest('hex');
      const key = `${namespace}/${name}/${m.uid ?? ''}`;
      if (this.#applied.get(key) !== digest || deployment === undefined || service === undefined) {
        this.#o.guard(`Waypoint ${namespace}/${name} objects`);
        await c.core.patchNamespacedServiceAccount(
          { namespace, name, body: objs.serviceAccount, fieldManager: FIELD_MANAGER, force: true },
          apply,
        );
        this.#o.guard(`Waypoint ${namespace}/${name} objects`);
        await c.apps.patchNamespacedDeployment(
          { namespace, name, body: objs.deployment, fieldManager: FIELD_MANAGER, force: true },
          apply,
        );
        this.#o.guard(`Waypoint ${namespace}/${name} objects`);
        await c.core.patchNamespacedService(
          { namespace, name, body: objs.service, fieldManager: FIELD_MANAGER, force: true },
          apply,
        );
        this.#applied.set(key, digest);
      }
      const available = deployment?.status?.availableReplicas ?? 0;
      const want = objs.deployment.spec?.replicas ?? 1;
      const ips = (
        service?.spec?.clusterIPs ?? (service?.spec?.clusterIP ? [service.spec.clusterIP] : [])
      ).filter((ip) => ip !== 'None');
      addresses = ips.map((value) => ({ type: 'IPAddress', value }));
      const missing: string[] = [];
      if (available < 1)
        missing.push(
          `Deployment ${namespace}/${name} has no available replica yet (${available}/${want})`,
        );
      if (ips.length === 0) missing.push(`Service ${namespace}/${name} has no cluster IP yet`);
      conditions = [
        {
          type: 'Accepted',
          status: 'True',
          reason: 'Accepted',
          message: `ServiceAccount, Deployment and Service ${namespace}/${name} are managed for this Waypoint`,
          ...gen,
        },
        missing.length === 0
          ? {
              type: 'Programmed',
              status: 'True',
              reason: 'Programmed',
              message: `${available}/${want} replicas available at ${ips.join(', ')}:15008`,
              ...gen,
            }
          : {
              type: 'Programmed',
              status: 'False',
              reason: 'Pending',
              message: missing.join('; '),
              ...gen,
            },
      ];
    }
    const current = (wp.status ?? {}) as Record<string, unknown>;
    const status = {
      ...current,
      ...gen,
      addresses,
      conditions: mergeConditions(current.conditions, conditions, new Date()),
    };
    if (isDeepStrictEqual(status, current)) return;
    this.#o.guard(`Waypoint ${namespace}/${name} status`);
    await c.custom.patchNamespacedCustomObjectStatus(
      {
        group: AMBIT_GROUP,
        version: AMBIT_VERSION,
        plural: 'waypoints',
        namespace,
        name,
        body: { status },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}
