// Runs the whole vitest suite and ends with one plain summary line
// ("N passed, N failed, N skipped") that CI reads, whatever vitest's own format is.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

const dir = mkdtempSync(join(tmpdir(), 'ambit-tests-'));
const out = join(dir, 'vitest.json');
const res = spawnSync(
  'pnpm',
  [
    'exec',
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let summary: VitestJson | undefined;
try {
  summary = JSON.parse(readFileSync(out, 'utf8')) as VitestJson;
} catch {
  summary = undefined;
}
rmSync(dir, { recursive: true, force: true });
if (!summary) {
  console.error('tests: vitest wrote no results');
  process.exit(res.status ?? 1);
}
const skipped = summary.numPendingTests + summary.numTodoTests;
console.log(
  `tests: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped`,
);
const ok = res.status === 0 && summary.numFailedTests === 0 && summary.numTotalTests > 0;
process.exit(ok ? 0 : 1);
