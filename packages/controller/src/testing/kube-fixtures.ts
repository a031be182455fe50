// TEST ONLY: fixtures for *.k8s.test.ts against the real API server of the run (e2e global setup):
// clients, CRDs (Ambit's and Gateway API's), Nodes, Pods put into a running state through the
// status subresource (no kubelet needed), bound ServiceAccount tokens, and a poller.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  KubeConfig,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
  type V1OwnerReference,
  type V1Pod,
} from '@kubernetes/client-node';
import { CRD_DIR } from '../crds/crd-files.ts';
import { apiStatus, makeKubeClients, type KubeClients } from '../kube/kube-clients.ts';
import { ENROLLED_ANNOTATION } from '../translate/names.ts';

const run = promisify(execFile);
const e2eScripts = new URL('../../../../e2e/scripts/', import.meta.url).pathname;

/** Request options for a JSON merge patch (for callers outside this package, e.g. bench/). */
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function kubeClients(kubeconfig: string): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return makeKubeClients(kc);
}

/** Polls `fn` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Creates the CRDs, or replaces them when they exist (a reused cluster, AMBIT_KUBECONFIG, may hold
 * an older version: the files are what must be tested); returns the API server's refusals by name.
 */
async function createCrds(
  kc: KubeConfig,
  crds: V1CustomResourceDefinition[],
): Promise<Map<string, string>> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const refused = new Map<string, string>();
  for (const body of crds) {
    const name = body.metadata?.name ?? '';
    try {
      try {
        await api.createCustomResourceDefinition({ body });
      } catch (err) {
        if (apiStatus(err) !== 409) throw err;
        const current = await api.readCustomResourceDefinition({ name });
        await api
          .replaceCustomResourceDefinition({
            name,
            body: {
              ...body,
              metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion },
            },
          })
          .catch((e: unknown) => {
            // 409: another test file replaced it in between, with the same files.
            if (apiStatus(e) !== 409) throw e;
          });
      }
    } catch (err) {
      if (apiStatus(err) === 422) refused.set(name, String((err as { body?: unknown }).body));
      else throw err;
    }
  }
  for (const crd of crds) {
    if (refused.has(crd.metadata?.name ?? '')) continue;
    const name = crd.metadata?.name ?? '';
    await waitFor(`CRD ${name} established`, async () => {
      const got = await api.readCustomResourceDefinition({ name });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
  return refused;
}

/**
 * Installs Ambit's CRDs and Gateway API's HTTPRoute CRD (from the e2e build cache); idempotent.
 * Returns the CRDs the API server refused (name → its message), for tests to assert on.
 */
export async function installCrds(c: KubeClients): Promise<Map<string, string>> {
  // loadAllYaml gives client-node's typed models: its serializer drops every key of a plain parsed
  // object it does not know by its camel-case name (x-kubernetes-validations, default, ...), which
  // installed the CRDs without their CEL rules.
  const typed = (text: string) =>
    loadAllYaml(text).filter(
      (d): d is V1CustomResourceDefinition =>
        (d as { kind?: unknown } | null)?.kind === 'CustomResourceDefinition',
    );
  const ambit = readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => typed(readFileSync(join(CRD_DIR, f), 'utf8')));
  const refused = await createCrds(c.kc, ambit);
  const where = await run(join(e2eScripts, 'build-k8s.sh'), ['gateway-api']);
  const file = join(where.stdout.trim(), 'standard.yaml');
  for (const [k, v] of await createCrds(
    c.kc,
    typed(readFileSync(file, 'utf8')).filter(
      (d) => d.metadata?.name === 'httproutes.gateway.networking.k8s.io',
    ),
  ))
    refused.set(k, v);
  return refused;
}

export async function ensureNamespace(
  c: KubeClients,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  try {
    await c.core.createNamespace({ body: { metadata: { name, labels } } });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

export async function createNode(c: KubeClients, name: string): Promise<void> {
  try {
    await c.core.createNode({
      body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } },
    });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

export async function ensureServiceAccount(
  c: KubeClients,
  namespace: string,
  name: string,
): Promise<void> {
  try {
    await c.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

export interface PodSpec {
  namespace: string;
  name: string;
  node: string;
  ip: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
  /** Put the node agent's enrolment mark on it (default true). */
  enrolled?: boolean;
  ready?: boolean;
  phase?: 'Running' | 'Pending';
  ownerReferences?: V1OwnerReference[];
}

/** Creates a Pod bound to a Node and sets its status (phase, IP, Ready) as a kubelet would. */
export async function createRunningPod(c: KubeClients, p: PodSpec): Promise<V1Pod> {
  const sa = p.serviceAccount ?? 'default';
  if (sa !== 'default') await ensureServiceAccount(c, p.namespace, sa);
  await waitFor(`ServiceAccount ${p.namespace}/${sa}`, () =>
    c.core.readNamespacedServiceAccount({ namespace: p.namespace, name: sa }),
  );
  const created = await c.core.createNamespacedPod({
    namespace: p.namespace,
    body: {
      metadata: {
        name: p.name,
        labels: p.labels ?? {},
        annotations:
          p.enrolled === false ? {} : { [ENROLLED_ANNOTATION]: `${p.node}/2026-01-01T00:00:00Z` },
        ...(p.ownerReferences !== undefined && { ownerReferences: p.ownerReferences }),
      },
      spec: {
        nodeName: p.node,
        serviceAccountName: sa,
        automountServiceAccountToken: false,
        containers: [
          { name: 'app', image: 'registry.invalid/app:1', ports: [{ containerPort: 8080 }] },
        ],
      },
    },
  });
  await setPodStatus(c, p.namespace, p.name, {
    ip: p.ip,
    ready: p.ready ?? true,
    phase: p.phase ?? 'Running',
  });
  return created;
}

export async function setPodStatus(
  c: KubeClients,
  namespace: string,
  name: string,
  s: { ip: string; ready: boolean; phase?: string },
): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await c.core.patchNamespacedPodStatus(
    {
      namespace,
      name,
      body: {
        status: {
          phase: s.phase ?? 'Running',
          podIP: s.ip,
          podIPs: [{ ip: s.ip }],
          hostIP: '192.0.2.1',
          startTime: now,
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
            { type: 'Initialized', status: 'True', lastTransitionTime: now },
            {
              type: 'ContainersReady',
              status: s.ready ? 'True' : 'False',
              lastTransitionTime: now,
            },
            { type: 'Ready', status: s.ready ? 'True' : 'False', lastTransitionTime: now },
          ],
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function deletePod(c: KubeClients, namespace: string, name: string): Promise<void> {
  await c.core
    .deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 })
    .catch((err: unknown) => {
      if (apiStatus(err) !== 404) throw err;
    });
}

/** A token for ServiceAccount ns/sa with `audience`, bound to a pod when given (as a projected token is). */
export async function requestToken(
  c: KubeClients,
  namespace: string,
  serviceAccount: string,
  opts: { audience?: string; pod?: { name: string; uid: string } } = {},
): Promise<string> {
  const res = await c.core.createNamespacedServiceAccountToken({
    namespace,
    name: serviceAccount,
    body: {
      spec: {
        audiences: [opts.audience ?? 'ambit-ca'],
        expirationSeconds: 600,
        ...(opts.pod && {
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: opts.pod.name, uid: opts.pod.uid },
        }),
      },
    },
  });
  return res.status?.token ?? '';
}
