// Writes the translation's StatusReports (translate/translation.ts) to the status subresource of
// AuthorizationPolicies, PeerAuthentications and HTTPRoutes. Leader only (every write passes
// `guard`). Each report is compared with the object's current status in the informer cache and
// written only when it differs, so a steady cluster causes no writes; lastTransitionTime follows
// merge-conditions.ts. For an HTTPRoute the conditions go into one `status.parents[]` entry per
// Service parentRef, with controllerName ambit.dev/controller; other controllers' entries are kept.
//
// Writes are serialized and coalesced: while one pass runs, further reports replace the pending
// ones, and the next pass works from the latest.

import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import type { ClusterWatcher } from '../kube/cluster-watcher.ts';
import {
  AMBIT_GROUP,
  AMBIT_VERSION,
  GATEWAY_GROUP,
  GATEWAY_VERSION,
} from '../kube/cluster-watcher.ts';
import { apiStatus } from '../kube/kube-clients.ts';
import type { GatewayRef, HttpRoute } from '../translate/cluster-state.ts';
import type { StatusReport } from '../translate/translation.ts';
import { mergeConditions } from './merge-conditions.ts';

export const CONTROLLER_NAME = 'ambit.dev/controller';

const KINDS = {
  AuthorizationPolicy: {
    group: AMBIT_GROUP,
    version: AMBIT_VERSION,
    plural: 'authorizationpolicies',
    cache: 'authorizationPolicies',
  },
  PeerAuthentication: {
    group: AMBIT_GROUP,
    version: AMBIT_VERSION,
    plural: 'peerauthentications',
    cache: 'peerAuthentications',
  },
  HTTPRoute: {
    group: GATEWAY_GROUP,
    version: GATEWAY_VERSION,
    plural: 'httproutes',
    cache: 'httpRoutes',
  },
} as const;

export interface StatusWriterOptions {
  custom: CustomObjectsApi;
  watcher: ClusterWatcher;
  /** Throws unless this replica may write (LeaderElector.guard). */
  guard(what: string): void;
  log: Logger;
  now?: () => Date;
}

type Obj = { metadata?: { generation?: number }; spec?: unknown; status?: Record<string, unknown> };

function isServiceParent(p: GatewayRef): boolean {
  return p.kind === 'Service' && (p.group === undefined || p.group === '' || p.group === 'core');
}

/** The status an object should have, from its current one and the report. */
export function desiredStatus(
  kind: StatusReport['kind'],
  obj: Obj,
  report: StatusReport,
  now: Date,
): Record<string, unknown> {
  const current = obj.status ?? {};
  if (kind !== 'HTTPRoute') {
    return { ...current, conditions: mergeConditions(current.conditions, report.conditions, now) };
  }
  const route = obj as HttpRoute;
  const existing = Array.isArray(current.parents)
    ? (current.parents as Record<string, unknown>[])
    : [];
  const others = existing.filter((p) => p.controllerName !== CONTROLLER_NAME);
  const ours = (route.spec?.parentRefs ?? []).filter(isServiceParent).map((ref) => {
    const parentRef = {
      group: ref.group ?? '',
      kind: 'Service',
      name: ref.name,
      ...(ref.namespace !== undefined && { namespace: ref.namespace }),
      ...(ref.port !== undefined && { port: ref.port }),
      ...(ref.sectionName !== undefined && { sectionName: ref.sectionName }),
    };
    const old = existing.find(
      (p) => p.controllerName === CONTROLLER_NAME && isDeepStrictEqual(p.parentRef, parentRef),
    );
    return {
      parentRef,
      controllerName: CONTROLLER_NAME,
      conditions: mergeConditions(old?.conditions, report.conditions, now),
    };
  });
  return { ...current, parents: [...others, ...ours] };
}

export class StatusWriter {
  readonly #o: StatusWriterOptions;
  #pending: readonly StatusReport[] | undefined;
  #running: Promise<void> | undefined;
  #written = 0;

  constructor(opts: StatusWriterOptions) {
    this.#o = opts;
  }

  /** Status writes made. */
  get written(): number {
    return this.#written;
  }

  /** Hands over the latest reports; returns when they (or later ones) have been written. */
  update(reports: readonly StatusReport[]): Promise<void> {
    this.#pending = reports;
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#pending !== undefined) {
      const reports = this.#pending;
      this.#pending = undefined;
      for (const r of reports) {
        try {
          await this.#write(r);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'AMBIT_NOT_LEADER') return;
          this.#o.log.warn('status write failed', {
            kind: r.kind,
            object: `${r.namespace}/${r.name}`,
            err,
          });
        }
      }
    }
  }

  async #write(r: StatusReport): Promise<void> {
    const k = KINDS[r.kind];
    const obj = this.#o.watcher.get(k.cache, r.namespace, r.name) as Obj | undefined;
    if (obj === undefined) return;
    const now = this.#o.now?.() ?? new Date();
    const status = desiredStatus(r.kind, obj, r, now);
    if (isDeepStrictEqual(status, obj.status ?? {})) return;
    this.#o.guard(`${r.kind} ${r.namespace}/${r.name} status`);
    try {
      await this.#o.custom.patchNamespacedCustomObjectStatus(
        {
          group: k.group,
          version: k.version,
          plural: k.plural,
          namespace: r.namespace,
          name: r.name,
          body: { status },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      this.#written++;
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
    }
  }
}
