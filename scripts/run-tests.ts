// Runs every test suite and ends with one plain summary line ("N passed, N failed, N skipped")
// that CI reads, whatever vitest's own format is. The suites:
//   unit     vitest.config.ts: pure tests, in-process integration over real sockets, and the
//            network-namespace tests (root)
//   k8s      e2e/vitest.k8s.config.ts: tests against a real API server (one control plane per
//            run, built from Go modules on first use and cached)
//   charts   charts/ambit/tests: helm template / helm lint over the main value combinations
//   e2e      e2e/vitest.e2e.config.ts: the end-to-end suite on a whole cluster (not in the default
//            set: `make e2e` runs it, through e2e/scripts/e2e.sh)
// `node scripts/run-tests.ts [suite…] [-- vitest args]` runs a subset. With AMBIT_TEST_SUMMARY_FILE
// set, the totals are also appended to that file (".ci/run" adds up make test and make e2e).
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

const SUITES: Record<string, string> = {
  unit: 'vitest.config.ts',
  k8s: 'e2e/vitest.k8s.config.ts',
  charts: 'charts/ambit/tests/vitest.config.ts',
  e2e: 'e2e/vitest.e2e.config.ts',
};
const DEFAULT_SUITES = ['unit', 'k8s', 'charts'];

const dash = process.argv.indexOf('--');
const names = (dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash)).filter(Boolean);
const extra = dash < 0 ? [] : process.argv.slice(dash + 1);
const chosen = names.length > 0 ? names : DEFAULT_SUITES;
for (const n of chosen) {
  if (!(n in SUITES)) {
    console.error(
      `tests: unknown suite ${JSON.stringify(n)} (known: ${Object.keys(SUITES).join(', ')})`,
    );
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ambit-tests-'));
const total = { passed: 0, failed: 0, skipped: 0, tests: 0 };
let ok = true;
for (const name of chosen) {
  const out = join(dir, `${name}.json`);
  console.log(`\n=== tests: suite ${name} (${SUITES[name]}) ===`);
  const res = spawnSync(
    'pnpm',
    [
      'exec',
      'vitest',
      'run',
      '--config',
      SUITES[name]!,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${out}`,
      ...extra,
    ],
    { stdio: 'inherit' },
  );
  let summary: VitestJson | undefined;
  try {
    summary = JSON.parse(readFileSync(out, 'utf8')) as VitestJson;
  } catch {
    summary = undefined;
  }
  if (!summary) {
    console.error(`tests: suite ${name} wrote no results (exit ${res.status ?? res.signal})`);
    ok = false;
    total.failed += 1;
    continue;
  }
  const skipped = summary.numPendingTests + summary.numTodoTests;
  console.log(
    `suite ${name}: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped`,
  );
  total.passed += summary.numPassedTests;
  total.failed += summary.numFailedTests;
  total.skipped += skipped;
  total.tests += summary.numTotalTests;
  if (res.status !== 0 || summary.numFailedTests > 0) ok = false;
}
rmSync(dir, { recursive: true, force: true });
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
if (process.env.AMBIT_TEST_SUMMARY_FILE) {
  appendFileSync(
    process.env.AMBIT_TEST_SUMMARY_FILE,
    `${chosen.join('+')} ${total.passed} ${total.failed} ${total.skipped}\n`,
  );
}
process.exit(ok && total.tests > 0 ? 0 : 1);
