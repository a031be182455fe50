// The chart's tests: `helm template` / `helm lint` over the main value combinations. Run with
//   scripts/with-toolchain pnpm exec vitest run --config charts/ambit/tests/vitest.config.ts
// (make chart-test). The chart is not a workspace package, so `yaml` comes from e2e's install
// (the e2e suite is the chart's other consumer).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default defineConfig({
  root,
  resolve: { alias: { yaml: `${root}e2e/node_modules/yaml/dist/index.js` } },
  test: {
    include: ['charts/ambit/tests/**/*.test.ts'],
    exclude: ['**/*.k8s.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
