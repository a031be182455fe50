// Vitest global setup for integration tests that need a real Kubernetes API server. Started once
// per run, only by configurations that list it (e2e/vitest.k8s.config.ts, or a project's own),
// so unit tests never pay for it. Tests read the kubeconfig with `inject('ambitKubeconfig')`.
//
// AMBIT_KUBECONFIG=<path> uses an existing cluster instead of starting one.
import type { TestProject } from 'vitest/node';
import { startControlPlane } from './control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of an admin (cluster-admin) kubeconfig for the run's API server. */
    ambitKubeconfig: string;
    /** kubectl matching the API server's version. */
    ambitKubectl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const existing = process.env.AMBIT_KUBECONFIG;
  if (existing) {
    project.provide('ambitKubeconfig', existing);
    project.provide('ambitKubectl', process.env.AMBIT_KUBECTL ?? 'kubectl');
    return;
  }
  const plane = await startControlPlane();
  project.provide('ambitKubeconfig', plane.kubeconfig);
  project.provide('ambitKubectl', plane.kubectl);
  return () => plane.stop();
}
