// The result of translating cluster state: the mesh resources of the config stream, the status
// each Ambit/Gateway object should carry, and warnings for the log.

import type { ResourceOf, ResourceType } from '@ambit/core/mesh/stream-protocol';

/** Every resource of every type, each list sorted by resource key (so equal state gives equal output). */
export type MeshResources = { readonly [T in ResourceType]: readonly ResourceOf[T][] };

/**
 * One condition, shaped like metav1.Condition minus `lastTransitionTime`: translation is pure, so
 * the status writer sets that time when `status`, `reason` or `message` changes.
 */
export interface StatusCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase, stable: match on it. */
  reason: string;
  /** For people: says what is wrong and what to do. */
  message: string;
  observedGeneration?: number;
}

/**
 * The status conditions one object should carry. For an HTTPRoute they apply to each of its
 * Service parents (`status.parents[]`, controllerName `ambit.dev/controller`).
 */
export interface StatusReport {
  kind: 'AuthorizationPolicy' | 'PeerAuthentication' | 'HTTPRoute';
  namespace: string;
  name: string;
  conditions: readonly StatusCondition[];
}

/** Something translation skipped or could not honour, about one object, for the controller's log. */
export interface TranslationWarning {
  /** `Kind namespace/name`, e.g. `Pod shop/web-1`. */
  object: string;
  message: string;
}

export interface Translation {
  resources: MeshResources;
  statuses: readonly StatusReport[];
  warnings: readonly TranslationWarning[];
}

/** Collects warnings during one translation. */
export type Warn = (object: string, message: string) => void;
