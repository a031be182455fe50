// Where the node agent learns pod and namespace facts: a local YAML file (local-pod-source.ts) in
// development, the Kubernetes API (kube-pod-source.ts: pods on this node, all namespaces) in a
// cluster. recordEnrolment is kept in memory locally and is the pod annotation
// `ambit.dev/enrolled` in Kubernetes.

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

export interface PodSource {
  /** One pod by namespace and name (Kubernetes: from the watch cache, else a GET). */
  getPod(namespace: string, name: string): Promise<PodFacts | undefined>;
  /** One namespace's facts from the cache; undefined when unknown. */
  getNamespace(name: string): NamespaceFacts | undefined;
  /** Subscribes to changes (labels, pods appearing or going); the agent then reconciles. */
  onChange(listener: () => void): void;
  /** Publishes the agent's decision about a pod (local: kept in memory; Kubernetes: annotation). */
  recordEnrolment(pod: PodFacts, enrolled: boolean): Promise<void>;
  close(): void | Promise<void>;
}
