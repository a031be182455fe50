// Pods → Workloads. A pod becomes a workload once it runs and has an IP; it is HBONE only when it
// is in the mesh (mesh-membership.ts), TCP otherwise. Host-network pods are left out: they share
// the node's IP, which is nobody's workload identity.

import { canonicalIp, type PodIp } from '@ambit/core/mesh/ip';
import type { Locality, Workload, WorkloadUid } from '@ambit/core/mesh/types';
import { labelsOf, type ClusterIndex } from './cluster-index.ts';
import { kubeTimeMs, type Pod } from './cluster-state.ts';
import { podMeshMembership } from './mesh-membership.ts';
import { REGION_LABEL, ZONE_LABEL } from './names.ts';
import type { Warn } from './translation.ts';
import { selectWaypoint } from './waypoint-selection.ts';

export interface WorkloadContext {
  index: ClusterIndex;
  trustDomain: string;
  warn: Warn;
}

/** The workload (Deployment, StatefulSet, …) name metrics use: the owner, ReplicaSet hash removed. */
export function workloadNameOf(pod: Pod): string {
  const name = pod.metadata?.name ?? '';
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true);
  if (owner === undefined) return name;
  const hash = labelsOf(pod)['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`)) {
    return owner.name.slice(0, -(hash.length + 1));
  }
  return owner.name;
}

function podIps(pod: Pod): PodIp[] {
  const raw = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (raw.length === 0 && pod.status?.podIP) raw.push(pod.status.podIP);
  const out: PodIp[] = [];
  for (const ip of raw) {
    const c = canonicalIp(ip);
    if (c !== undefined && !out.includes(c as PodIp)) out.push(c as PodIp);
  }
  return out;
}

function localityOf(nodeLabels: Readonly<Record<string, string>>): Locality | undefined {
  const region = nodeLabels[REGION_LABEL];
  const zone = nodeLabels[ZONE_LABEL];
  if (region === undefined && zone === undefined) return undefined;
  return { region: region ?? '', zone: zone ?? '' };
}

/** Ready condition true, and not being deleted. */
export function podIsHealthy(pod: Pod): boolean {
  if (pod.metadata?.deletionTimestamp !== undefined) return false;
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The Workload of one pod, or undefined when the pod is not (yet, or any more) a workload. */
export function translatePod(pod: Pod, ctx: WorkloadContext): Workload | undefined {
  const m = pod.metadata;
  const uid = m?.uid;
  const node = pod.spec?.nodeName;
  if (uid === undefined || m?.name === undefined || m.namespace === undefined) return undefined;
  if (node === undefined || pod.status?.phase !== 'Running' || pod.spec?.hostNetwork === true) {
    return undefined;
  }
  const ips = podIps(pod);
  if (ips.length === 0) return undefined;
  const labels = labelsOf(pod);
  const membership = podMeshMembership(pod, ctx.index.namespaces.get(m.namespace));
  const workloadName = workloadNameOf(pod);
  const w: Workload = {
    uid: uid as WorkloadUid,
    name: m.name,
    namespace: m.namespace,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    node,
    ips,
    protocol: membership.wantsAmbient && membership.enrolled ? 'HBONE' : 'TCP',
    labels: { ...labels },
    workloadName,
    canonicalName:
      labels['service.istio.io/canonical-name'] ??
      labels['app.kubernetes.io/name'] ??
      labels.app ??
      workloadName,
    canonicalRevision:
      labels['service.istio.io/canonical-revision'] ??
      labels['app.kubernetes.io/version'] ??
      labels.version ??
      'latest',
    healthy: podIsHealthy(pod),
  };
  const waypoint = selectWaypoint(pod, `Pod ${m.namespace}/${m.name}`, 'workload', ctx);
  if (waypoint !== undefined) w.waypoint = waypoint;
  const locality = localityOf(labelsOf(ctx.index.nodes.get(node)));
  if (locality !== undefined) w.locality = locality;
  return w;
}

/**
 * Every pod's workload, sorted by uid. Two running pods never share an IP in a healthy cluster,
 * but if they do (a stale pod object) data planes would refuse the whole update: the newest pod
 * keeps the IP and the other is left out, with a warning.
 */
export function translateWorkloads(pods: readonly Pod[], ctx: WorkloadContext): Workload[] {
  const candidates: { w: Workload; created: number }[] = [];
  for (const pod of pods) {
    const w = translatePod(pod, ctx);
    if (w === undefined) continue;
    const t = kubeTimeMs(pod.metadata?.creationTimestamp);
    candidates.push({ w, created: Number.isFinite(t) ? t : Number.NEGATIVE_INFINITY });
  }
  // Newest first (absent times count as oldest); ties by uid so the outcome is stable.
  candidates.sort((a, b) =>
    b.created !== a.created ? (b.created > a.created ? 1 : -1) : a.w.uid < b.w.uid ? -1 : 1,
  );
  const owner = new Map<string, Workload>();
  const out: Workload[] = [];
  for (const { w } of candidates) {
    const clash = w.ips.map((ip) => owner.get(ip)).find((o) => o !== undefined);
    if (clash !== undefined) {
      ctx.warn(
        `Pod ${w.namespace}/${w.name}`,
        `its IP ${w.ips.join(', ')} is also pod ${clash.namespace}/${clash.name}'s (newer); left out`,
      );
      continue;
    }
    for (const ip of w.ips) owner.set(ip, w);
    out.push(w);
  }
  return out.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}
