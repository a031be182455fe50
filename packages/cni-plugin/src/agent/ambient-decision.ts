// Decide whether a pod is captured. Pure: the facts come from a PodSource.

/** Namespace label (and pod label or annotation) that selects the data-plane mode. */
export const DATAPLANE_MODE_LABEL = 'ambit.dev/dataplane-mode';

export interface NamespaceFacts {
  name: string;
  labels: Readonly<Record<string, string>>;
}

export interface PodFacts {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface AmbientDecision {
  ambient: boolean;
  /** Why, for logs and CHECK errors. */
  reason: string;
}

/**
 * A pod is ambient when its namespace is labelled `ambit.dev/dataplane-mode=ambient`, unless the
 * pod says `none` (label or annotation); a pod that says `ambient` is captured even in an
 * unlabelled namespace. A pod the source does not know is never ambient here (the caller decides
 * whether to wait for it).
 */
export function decideAmbient(
  ns: NamespaceFacts | undefined,
  pod: PodFacts | undefined,
): AmbientDecision {
  if (pod === undefined) return { ambient: false, reason: 'pod unknown to the pod source' };
  const own = pod.labels[DATAPLANE_MODE_LABEL] ?? pod.annotations[DATAPLANE_MODE_LABEL];
  if (own === 'none')
    return { ambient: false, reason: `pod opts out (${DATAPLANE_MODE_LABEL}=none)` };
  if (own === 'ambient')
    return { ambient: true, reason: `pod opts in (${DATAPLANE_MODE_LABEL}=ambient)` };
  if (ns?.labels[DATAPLANE_MODE_LABEL] === 'ambient') {
    return { ambient: true, reason: `namespace ${pod.namespace} is ambient` };
  }
  return {
    ambient: false,
    reason: `namespace ${pod.namespace} is not labelled ${DATAPLANE_MODE_LABEL}=ambient`,
  };
}
