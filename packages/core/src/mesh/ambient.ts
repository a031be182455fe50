// Decide: is a pod in ambient mode (its traffic captured, served by ztunnel)? The one rule that
// the node agent (which captures pods) and the controller (which sends them as HBONE) share, so
// they can never disagree. Pure: labels in, decision out.
//
// Also the enrolment mark the node agent writes on a pod once it captured it, read by the
// controller (docs/controller.md, docs/cni.md).

/** Namespace label (and pod label or annotation) selecting the data-plane mode: `ambient` or `none`. */
export const DATAPLANE_MODE_LABEL = 'ambit.dev/dataplane-mode';

/**
 * Pod annotation the node agent writes once the pod's traffic is captured and ztunnel serves it:
 * `<node name>/<RFC 3339 time>`. Removed when the agent releases the pod.
 */
export const ENROLLED_ANNOTATION = 'ambit.dev/enrolled';

export type Labels = Readonly<Record<string, string>>;

export interface AmbientNamespace {
  labels?: Labels | undefined;
}

export interface AmbientPod {
  namespace: string;
  labels?: Labels | undefined;
  annotations?: Labels | undefined;
}

export interface AmbientDecision {
  ambient: boolean;
  /** Why, for logs and CNI CHECK errors. */
  reason: string;
}

/** True when the namespace is labelled `ambit.dev/dataplane-mode=ambient`. */
export function namespaceIsAmbient(ns: AmbientNamespace | undefined): boolean {
  return ns?.labels?.[DATAPLANE_MODE_LABEL] === 'ambient';
}

/**
 * A pod is ambient when its namespace is labelled `ambit.dev/dataplane-mode=ambient`, unless the
 * pod says `none` (label, else annotation); a pod that says `ambient` is captured even in an
 * unlabelled namespace. Any other pod value is ignored (the namespace decides). An unknown pod
 * (undefined) is never ambient: the caller decides whether to wait for it.
 */
export function decideAmbient(
  ns: AmbientNamespace | undefined,
  pod: AmbientPod | undefined,
): AmbientDecision {
  if (pod === undefined) return { ambient: false, reason: 'pod unknown to the pod source' };
  const own = pod.labels?.[DATAPLANE_MODE_LABEL] ?? pod.annotations?.[DATAPLANE_MODE_LABEL];
  if (own === 'none')
    return { ambient: false, reason: `pod opts out (${DATAPLANE_MODE_LABEL}=none)` };
  if (own === 'ambient')
    return { ambient: true, reason: `pod opts in (${DATAPLANE_MODE_LABEL}=ambient)` };
  if (namespaceIsAmbient(ns)) {
    return { ambient: true, reason: `namespace ${pod.namespace} is ambient` };
  }
  return {
    ambient: false,
    reason: `namespace ${pod.namespace} is not labelled ${DATAPLANE_MODE_LABEL}=ambient`,
  };
}

/** The value of ENROLLED_ANNOTATION: `<node>/<RFC 3339 time, UTC, seconds>`. */
export function enrolledMark(node: string, at: Date): string {
  return `${node}/${at.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** True when `mark` (ENROLLED_ANNOTATION's value) was written by the agent of `node`. */
export function enrolledOn(mark: string | undefined, node: string | undefined): boolean {
  return mark !== undefined && node !== undefined && mark.split('/', 1)[0] === node;
}
