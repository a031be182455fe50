// The objects one Waypoint stands for (pure): a ServiceAccount (its name is the waypoint's SPIFFE
// identity), a Deployment of the waypoint proxy and a Service on the HBONE port, all named after
// the Waypoint, labelled ambit.dev/waypoint=<name> and owned by it (deleting the Waypoint lets the
// garbage collector delete them). Applied with server-side apply (waypoint-reconciler.ts).

import type {
  V1Deployment,
  V1OwnerReference,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type { Waypoint } from '../translate/cluster-state.ts';
import {
  DATAPLANE_MODE_LABEL,
  WAYPOINT_HBONE_PORT,
  WAYPOINT_LABEL,
  waypointObjectNames,
} from '../translate/names.ts';

export interface WaypointDeploymentConfig {
  /** The waypoint proxy image. */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** The controller's config stream and CA, `host:port` (ambit-controller.ambit-system.svc:15012). */
  controllerAddress: string;
}

export const WAYPOINT_TOKEN_DIR = '/var/run/secrets/tokens';
export const WAYPOINT_ROOTS_DIR = '/var/run/secrets/ambit';
export const ROOT_CERT_CONFIGMAP = 'ambit-root-cert';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'ambit-controller' } as const;

export interface WaypointObjects {
  serviceAccount: V1ServiceAccount;
  deployment: V1Deployment;
  service: V1Service;
}

export function ownerReference(wp: Waypoint): V1OwnerReference {
  return {
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'Waypoint',
    name: wp.metadata?.name ?? '',
    uid: wp.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function waypointObjects(wp: Waypoint, cfg: WaypointDeploymentConfig): WaypointObjects {
  const name = wp.metadata?.name ?? '';
  const namespace = wp.metadata?.namespace ?? '';
  const names = waypointObjectNames(name);
  const labels = { [WAYPOINT_LABEL]: name, ...MANAGED_BY };
  const meta = (n: string) => ({
    name: n,
    namespace,
    labels,
    ownerReferences: [ownerReference(wp)],
  });
  const resources = (wp.spec?.resources ?? {}) as NonNullable<
    NonNullable<V1Deployment['spec']>['template']['spec']
  >['containers'][number]['resources'];
  const serviceAccount: V1ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(names.serviceAccount),
  };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(names.deployment),
    spec: {
      replicas: wp.spec?.replicas ?? 1,
      selector: { matchLabels: { [WAYPOINT_LABEL]: name } },
      template: {
        metadata: {
          // The waypoint proxy speaks HBONE itself: the node agent must not capture its traffic.
          labels: { [WAYPOINT_LABEL]: name, [DATAPLANE_MODE_LABEL]: 'none' },
        },
        spec: {
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337 },
          containers: [
            {
              name: 'waypoint',
              image: cfg.image,
              imagePullPolicy: cfg.imagePullPolicy ?? 'IfNotPresent',
              args: [
                '--controller',
                cfg.controllerAddress,
                '--token-path',
                `${WAYPOINT_TOKEN_DIR}/ambit-token`,
                '--roots-file',
                `${WAYPOINT_ROOTS_DIR}/root-cert.pem`,
              ],
              env: [
                { name: 'WAYPOINT_NAME', value: name },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                {
                  name: 'POD_NAMESPACE',
                  valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                },
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              ],
              ports: [
                { name: 'hbone', containerPort: WAYPOINT_HBONE_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: 15020, protocol: 'TCP' },
                { name: 'readiness', containerPort: 15021, protocol: 'TCP' },
              ],
              readinessProbe: {
                httpGet: { path: '/healthz/ready', port: 15021 },
                periodSeconds: 5,
                failureThreshold: 3,
              },
              ...(Object.keys(resources ?? {}).length > 0 && { resources }),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'ambit-token', mountPath: WAYPOINT_TOKEN_DIR, readOnly: true },
                { name: 'ambit-roots', mountPath: WAYPOINT_ROOTS_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            {
              name: 'ambit-token',
              projected: {
                sources: [
                  {
                    serviceAccountToken: {
                      audience: 'ambit-ca',
                      expirationSeconds: 3600,
                      path: 'ambit-token',
                    },
                  },
                ],
              },
            },
            { name: 'ambit-roots', configMap: { name: ROOT_CERT_CONFIGMAP } },
          ],
        },
      },
    },
  };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(names.service),
    spec: {
      selector: { [WAYPOINT_LABEL]: name },
      ports: [
        {
          name: 'hbone',
          port: WAYPOINT_HBONE_PORT,
          targetPort: WAYPOINT_HBONE_PORT,
          protocol: 'TCP',
        },
      ],
    },
  };
  return { serviceAccount, deployment, service };
}
