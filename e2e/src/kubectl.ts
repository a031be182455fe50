// kubectl for e2e tests, against the cluster the global setup provided.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterAccess } from './providers/cluster-provider.ts';
import { runCommand } from './providers/run-command.ts';

export type Kubectl = (...args: string[]) => Promise<string>;

export function kubectlFor(access: ClusterAccess): Kubectl {
  return (...args) => runCommand(access.kubectl, ['--kubeconfig', access.kubeconfig, ...args]);
}

/** `kubectl apply` of objects given as plain data. */
export async function apply(kubectl: Kubectl, objects: readonly object[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-apply-'));
  try {
    const file = join(dir, 'objects.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    await kubectl('apply', '-f', file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
