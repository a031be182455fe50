// The chart's tests: `helm template` / `helm lint` over the main value combinations. Run with
//   scripts/with-toolchain pnpm exec vitest run --config charts/ambit/tests/vitest.config.ts
// (make chart-test; make test runs it too). `yaml` is a root devDependency.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default defineConfig({
  root,
  test: {
    include: ['charts/ambit/tests/**/*.test.ts'],
    exclude: ['**/*.k8s.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
