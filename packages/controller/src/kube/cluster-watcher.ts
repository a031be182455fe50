// Watches everything translation reads (translate/cluster-state.ts) and hands out a ClusterState
// built from the informers' caches. `onChange` fires after any cached object changed; `synced`
// is true once every kind has been listed, and stays true when watches fail later (the caches keep
// the last state seen, so translation and the stream keep serving it).

import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '@ambit/core/log';
import type { ClusterState } from '../translate/cluster-state.ts';
import type { KubeClients } from './kube-clients.ts';
import { ResilientInformer, type WatchedKind } from './resilient-informer.ts';

export const AMBIT_GROUP = 'ambit.dev';
export const AMBIT_VERSION = 'v1alpha1';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_VERSION = 'v1';

type Listed = KubernetesListObject<KubernetesObject>;

function custom(
  clients: KubeClients,
  kind: string,
  group: string,
  version: string,
  plural: string,
): WatchedKind<KubernetesObject> {
  return {
    kind,
    path: `/apis/${group}/${version}/${plural}`,
    list: async () =>
      (await clients.custom.listClusterCustomObject({ group, version, plural })) as Listed,
  };
}

/** Every kind the controller watches, by the ClusterState field it fills. */
export function watchedKinds(
  c: KubeClients,
): Record<keyof ClusterState, WatchedKind<KubernetesObject>> {
  return {
    namespaces: {
      kind: 'Namespace',
      path: '/api/v1/namespaces',
      list: async () => await c.core.listNamespace(),
    },
    pods: {
      kind: 'Pod',
      path: '/api/v1/pods',
      list: async () => await c.core.listPodForAllNamespaces(),
    },
    services: {
      kind: 'Service',
      path: '/api/v1/services',
      list: async () => await c.core.listServiceForAllNamespaces(),
    },
    endpointSlices: {
      kind: 'EndpointSlice',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: async () => await c.discovery.listEndpointSliceForAllNamespaces(),
    },
    nodes: {
      kind: 'Node',
      path: '/api/v1/nodes',
      list: async () => await c.core.listNode(),
    },
    waypoints: custom(c, 'Waypoint', AMBIT_GROUP, AMBIT_VERSION, 'waypoints'),
    authorizationPolicies: custom(
      c,
      'AuthorizationPolicy',
      AMBIT_GROUP,
      AMBIT_VERSION,
      'authorizationpolicies',
    ),
    peerAuthentications: custom(
      c,
      'PeerAuthentication',
      AMBIT_GROUP,
      AMBIT_VERSION,
      'peerauthentications',
    ),
    httpRoutes: custom(c, 'HTTPRoute', GATEWAY_GROUP, GATEWAY_VERSION, 'httproutes'),
  };
}

export interface ClusterWatcherOptions {
  log: Logger;
  onChange(): void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ClusterWatcher {
  readonly #informers: Record<keyof ClusterState, ResilientInformer<KubernetesObject>>;

  constructor(clients: KubeClients, opts: ClusterWatcherOptions) {
    const kinds = watchedKinds(clients);
    const make = (k: keyof ClusterState) =>
      new ResilientInformer(clients.kc, kinds[k], {
        log: opts.log,
        onChange: () => opts.onChange(),
        ...(opts.minBackoffMs !== undefined && { minBackoffMs: opts.minBackoffMs }),
        ...(opts.maxBackoffMs !== undefined && { maxBackoffMs: opts.maxBackoffMs }),
      });
    this.#informers = {
      namespaces: make('namespaces'),
      pods: make('pods'),
      services: make('services'),
      endpointSlices: make('endpointSlices'),
      nodes: make('nodes'),
      waypoints: make('waypoints'),
      authorizationPolicies: make('authorizationPolicies'),
      peerAuthentications: make('peerAuthentications'),
      httpRoutes: make('httpRoutes'),
    };
  }

  start(): void {
    for (const i of Object.values(this.#informers)) i.start();
  }

  /** Every kind listed at least once. */
  get synced(): boolean {
    return Object.values(this.#informers).every((i) => i.synced);
  }

  /** The kinds not listed yet (for readiness messages). */
  unsynced(): string[] {
    return Object.values(this.#informers)
      .filter((i) => !i.synced)
      .map((i) => i.kind);
  }

  async whenSynced(): Promise<void> {
    await Promise.all(Object.values(this.#informers).map((i) => i.whenSynced()));
  }

  /** The cached objects of one kind (the informer's, do not mutate). */
  cached<K extends keyof ClusterState>(k: K): ClusterState[K] {
    return this.#informers[k].list() as unknown as ClusterState[K];
  }

  /** One cached namespaced object. */
  get<K extends keyof ClusterState>(
    k: K,
    namespace: string,
    name: string,
  ): ClusterState[K][number] | undefined {
    return this.#informers[k].get(name, namespace);
  }

  state(): ClusterState {
    return {
      namespaces: this.cached('namespaces'),
      pods: this.cached('pods'),
      services: this.cached('services'),
      endpointSlices: this.cached('endpointSlices'),
      nodes: this.cached('nodes'),
      waypoints: this.cached('waypoints'),
      authorizationPolicies: this.cached('authorizationPolicies'),
      peerAuthentications: this.cached('peerAuthentications'),
      httpRoutes: this.cached('httpRoutes'),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.#informers).map((i) => i.stop()));
  }
}
