// The e2e suite (`e2e/src/**/*.e2e.test.ts`) on a whole cluster. The global setup brings the
// cluster up through the provider AMBIT_E2E_PROVIDER names (local | kind) and down at the end.
import { defineConfig } from 'vitest/config';
import { PathSequencer } from './src/path-sequencer.ts';

const root = new URL('..', import.meta.url).pathname;

export default defineConfig({
  root,
  test: {
    include: ['e2e/src/**/*.e2e.test.ts'],
    globalSetup: ['e2e/src/e2e-global-setup.ts'],
    testTimeout: 120_000,
    // The first local run builds Kubernetes from source before the cluster can start.
    hookTimeout: 90 * 60_000,
    pool: 'forks',
    fileParallelism: false,
    // Files in path order: 00-smoke, then mesh/10-install … mesh/90-uninstall (they build on
    // each other: install first, uninstall last).
    sequence: { sequencer: PathSequencer },
  },
});
