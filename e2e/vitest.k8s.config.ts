// Integration tests against a real API server (no nodes): `*.k8s.test.ts`. One control plane is
// started for the whole run by the global setup and stopped at the end.
import { defineConfig } from 'vitest/config';

const root = new URL('..', import.meta.url).pathname;

export default defineConfig({
  root,
  test: {
    include: ['packages/*/src/**/*.k8s.test.ts', 'e2e/src/**/*.k8s.test.ts'],
    globalSetup: ['e2e/src/kube-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
