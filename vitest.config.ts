import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'bench/**/*.test.ts'],
    // Tests against a real API server run in their own suite (e2e/vitest.k8s.config.ts), which
    // starts one control plane for the run; scripts/run-tests.ts runs both.
    exclude: ['**/node_modules/**', '**/*.k8s.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
