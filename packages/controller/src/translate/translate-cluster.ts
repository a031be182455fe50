// The whole translation: cluster state in, mesh resources + statuses + warnings out. Pure and
// deterministic (sorted output), so the same state always gives the same resources and a delta
// between two translations (delta.ts) holds only what changed.

import type { Workload } from '@ambit/core/mesh/types';
import { buildClusterIndex } from './cluster-index.ts';
import type { ClusterState, TranslateOptions } from './cluster-state.ts';
import { translateAuthorizations } from './translate-authorizations.ts';
import { translateMeshConfig } from './translate-mesh-config.ts';
import { translateRoutes } from './translate-routes.ts';
import { translateServices } from './translate-services.ts';
import { translateWorkloads } from './translate-workloads.ts';
import type { Translation, TranslationWarning } from './translation.ts';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export function translateCluster(state: ClusterState, opts: TranslateOptions = {}): Translation {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const warnings: TranslationWarning[] = [];
  const seen = new Set<string>();
  const warn = (object: string, message: string): void => {
    const k = `${object}\n${message}`;
    if (seen.has(k)) return;
    seen.add(k);
    warnings.push({ object, message });
  };
  const index = buildClusterIndex(state);
  const workloads = translateWorkloads(state.pods, { index, trustDomain, warn });
  const byUid = new Map<string, Workload>(workloads.map((w) => [w.uid, w]));
  const services = translateServices(state.services, {
    index,
    trustDomain,
    clusterDomain,
    workloads: byUid,
    warn,
  });
  const auth = translateAuthorizations(state.authorizationPolicies, warn);
  const routes = translateRoutes(state.httpRoutes, { index, clusterDomain });
  const mesh = translateMeshConfig(state.peerAuthentications, {
    trustDomain,
    rootsPem: opts.rootsPem ?? '',
  });
  return {
    resources: {
      Workload: workloads,
      Service: services,
      Authorization: auth.authorizations,
      Route: routes.routes,
      MeshConfig: [mesh.meshConfig],
    },
    statuses: [...auth.statuses, ...mesh.statuses, ...routes.statuses],
    warnings,
  };
}
