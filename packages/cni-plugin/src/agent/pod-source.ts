// Where the node agent learns pod and namespace facts. Today a local YAML file
// (local-pod-source.ts); later the Kubernetes watch (pods on this node, all namespaces) implements
// the same interface, and recordEnrolment becomes the pod annotation `ambit.dev/enrolled`.

import type { NamespaceFacts, PodFacts } from './ambient-decision.ts';

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
