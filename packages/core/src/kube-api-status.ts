// The HTTP status of a failed Kubernetes API call, for the components that talk to the API server
// (controller, node agent): @kubernetes/client-node's ApiException carries it as a numeric `code`.
// Duck-typed so that core needs no client-node dependency.

/** The HTTP status of a client-node ApiException (or undefined for network errors). */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
