// Is a pod in the mesh (HBONE) or not (plain TCP)? Both must hold: the namespace or the pod asks
// for ambient, and the node agent has enrolled the pod (its capture rules are in place and
// ztunnel serves it). Sending HBONE to a pod that is not enrolled would fail, so until the agent
// says so the pod stays TCP. The "asks for ambient" rule is shared with the node agent
// (@ambit/core/mesh/ambient), so both sides agree.

import {
  decideAmbient,
  enrolledOn,
  namespaceIsAmbient as nsIsAmbient,
} from '@ambit/core/mesh/ambient';
import type { Namespace, Pod } from './cluster-state.ts';
import { ENROLLED_ANNOTATION } from './names.ts';

export interface MeshMembership {
  /** The namespace or the pod asks for ambient (and the pod does not opt out). */
  wantsAmbient: boolean;
  /** The node agent recorded that it enrolled the pod, on the pod's own node. */
  enrolled: boolean;
}

/** True when the namespace is labelled ambient. */
export function namespaceIsAmbient(ns: Namespace | undefined): boolean {
  return nsIsAmbient({ labels: ns?.metadata?.labels });
}

export function podMeshMembership(pod: Pod, ns: Namespace | undefined): MeshMembership {
  const { ambient: wantsAmbient } = decideAmbient(
    { labels: ns?.metadata?.labels },
    {
      namespace: pod.metadata?.namespace ?? '',
      labels: pod.metadata?.labels,
      annotations: pod.metadata?.annotations,
    },
  );
  // `<node>/<time>`: a mark for another node is stale (the pod object was reused), so ignore it.
  const enrolled = enrolledOn(pod.metadata?.annotations?.[ENROLLED_ANNOTATION], pod.spec?.nodeName);
  return { wantsAmbient, enrolled };
}
