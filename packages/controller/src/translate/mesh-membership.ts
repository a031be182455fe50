// Is a pod in the mesh (HBONE) or not (plain TCP)? Both must hold: the namespace or the pod asks
// for ambient, and the node agent has enrolled the pod (its capture rules are in place and
// ztunnel serves it). Sending HBONE to a pod that is not enrolled would fail, so until the agent
// says so the pod stays TCP. The "asks for ambient" rule is the node agent's own
// (packages/cni-plugin/src/agent/ambient-decision.ts), so both sides agree.

import type { Namespace, Pod } from './cluster-state.ts';
import { DATAPLANE_MODE_LABEL, ENROLLED_ANNOTATION } from './names.ts';

export interface MeshMembership {
  /** The namespace or the pod asks for ambient (and the pod does not opt out). */
  wantsAmbient: boolean;
  /** The node agent recorded that it enrolled the pod, on the pod's own node. */
  enrolled: boolean;
}

/** True when the namespace is labelled ambient. */
export function namespaceIsAmbient(ns: Namespace | undefined): boolean {
  return ns?.metadata?.labels?.[DATAPLANE_MODE_LABEL] === 'ambient';
}

export function podMeshMembership(pod: Pod, ns: Namespace | undefined): MeshMembership {
  const own =
    pod.metadata?.labels?.[DATAPLANE_MODE_LABEL] ??
    pod.metadata?.annotations?.[DATAPLANE_MODE_LABEL];
  const wantsAmbient = own === 'none' ? false : own === 'ambient' ? true : namespaceIsAmbient(ns);
  const mark = pod.metadata?.annotations?.[ENROLLED_ANNOTATION];
  const node = pod.spec?.nodeName;
  // `<node>/<time>`: a mark for another node is stale (the pod object was reused), so ignore it.
  const enrolled = mark !== undefined && node !== undefined && mark.split('/', 1)[0] === node;
  return { wantsAmbient, enrolled };
}
