// `helm upgrade --install … --wait` of a chart from the repository, the same for every provider.
import { join } from 'node:path';
import type { ClusterAccess } from './cluster-provider.ts';
import { runCommand } from './run-command.ts';

const repoRoot = new URL('../../..', import.meta.url).pathname;

export async function helmUpgradeInstall(
  access: ClusterAccess,
  release: string,
  chartDir: string,
  namespace: string,
  values: Record<string, string> = {},
): Promise<void> {
  const sets = Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
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
    '5m',
    '--kubeconfig',
    access.kubeconfig,
    ...sets,
  ]);
}
