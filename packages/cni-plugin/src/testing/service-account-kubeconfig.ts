// For *.k8s.test.ts: a ServiceAccount whose only rights are one namespaced Role, and a kubeconfig
// that talks to the API server with that ServiceAccount's token — how a component's narrow RBAC
// (the chart's rules) is tested against a real API server, rather than with the admin's rights;
// and the pod-less DaemonSet those tests point it at.

import {
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1DaemonSet,
  type V1PolicyRule,
} from '@kubernetes/client-node';

/**
 * Creates ServiceAccount `name`, Role `name` with `rules` and their RoleBinding in `namespace`
 * (which must exist), and returns a kubeconfig using a one-hour token of that ServiceAccount.
 */
export async function serviceAccountKubeConfig(
  admin: KubeConfig,
  namespace: string,
  name: string,
  rules: V1PolicyRule[],
): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster();
  if (!cluster || !token.status?.token) throw new Error('no cluster or token');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: token.status.token }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return kc;
}

/**
 * A DaemonSet that selects no node, so it never makes pods (the k8s suite has no kubelet): what
 * the node agent's shutdown check and the pre-delete hook look at is the object itself. With
 * `finalizers`, a deletion leaves it in place with a deletionTimestamp until they are removed.
 */
export function podlessDaemonSet(name: string, finalizers?: string[]): V1DaemonSet {
  return {
    metadata: { name, ...(finalizers ? { finalizers } : {}) },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'ambit.dev/no-such-node': 'true' },
          containers: [{ name: 'c', image: 'registry.invalid/c:1' }],
        },
      },
    },
  };
}
