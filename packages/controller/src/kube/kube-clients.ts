// The Kubernetes API clients the controller uses, made once from one KubeConfig: a kubeconfig
// file (development, tests) or the in-cluster ServiceAccount (production).

import {
  AppsV1Api,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
} from '@kubernetes/client-node';

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  custom: CustomObjectsApi;
  authn: AuthenticationV1Api;
  coordination: CoordinationV1Api;
}

/** `kubeconfig` undefined: in-cluster (the pod's ServiceAccount). */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig === undefined) kc.loadFromCluster();
  else kc.loadFromFile(kubeconfig);
  return kc;
}

export function makeKubeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    authn: kc.makeApiClient(AuthenticationV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

/** The HTTP status of a client-node ApiException (shared with the node agent, in core). */
export { apiStatus } from '@ambit/core/kube-api-status';
