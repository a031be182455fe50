// The chart installed into a real API server (no nodes: objects are admitted, pods do not run),
// started by the e2e global setup (e2e/src/kube-global-setup.ts). make chart-test-k8s.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default defineConfig({
  root,
  resolve: { alias: { yaml: `${root}e2e/node_modules/yaml/dist/index.js` } },
  test: {
    include: ['charts/ambit/tests/**/*.k8s.test.ts'],
    globalSetup: ['e2e/src/kube-global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
