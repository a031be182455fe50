// Vitest global setup for the e2e suite: brings a cluster up through the provider that
// AMBIT_E2E_PROVIDER names (local by default), hands the tests a `ClusterAccess`, and tears the
// cluster down at the end (AMBIT_E2E_KEEP=1 leaves it running for a look around).
import type { TestProject } from 'vitest/node';
import type { ClusterAccess } from './providers/cluster-provider.ts';
import { selectProvider } from './providers/select-provider.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    ambitCluster: ClusterAccess;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const provider = selectProvider();
  const started = performance.now();
  const access = await provider.up();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.error(
    `[e2e] ${provider.name} cluster ready in ${seconds}s (kubeconfig ${access.kubeconfig})`,
  );
  project.provide('ambitCluster', access);
  return async () => {
    if (process.env.AMBIT_E2E_KEEP === '1') {
      console.error(
        `[e2e] AMBIT_E2E_KEEP=1: the ${provider.name} cluster stays up (make e2e-down)`,
      );
      return;
    }
    await provider.down();
  };
}
