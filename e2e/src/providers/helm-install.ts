// `helm upgrade --install … --wait` of a chart from the repository, the same for every provider.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterAccess } from './cluster-provider.ts';
import { runCommand } from './run-command.ts';

const repoRoot = new URL('../../..', import.meta.url).pathname;

export interface HelmInstallOptions {
  /** Values as data (nested maps and lists), passed as a values file before the `--set`s. */
  valuesObject?: Record<string, unknown>;
  /** helm's --timeout (default 5m). */
  timeout?: string;
}

export async function helmUpgradeInstall(
  access: ClusterAccess,
  release: string,
  chartDir: string,
  namespace: string,
  values: Record<string, string> = {},
  options: HelmInstallOptions = {},
): Promise<void> {
  const sets = Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const dir = mkdtempSync(join(tmpdir(), 'ambit-helm-'));
  try {
    const files: string[] = [];
    if (options.valuesObject) {
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify(options.valuesObject));
      files.push('--values', file);
    }
    await runCommand(access.helm, [
      'upgrade',
      '--install',
      release,
      join(repoRoot, chartDir),
      '--namespace',
      namespace,
      '--create-namespace',
      '--wait',
      '--timeout',
      options.timeout ?? '5m',
      '--kubeconfig',
      access.kubeconfig,
      ...files,
      ...sets,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
