// Picks the cluster provider from AMBIT_E2E_PROVIDER: `local` (default) or `kind`.
import type { ClusterProvider } from './cluster-provider.ts';
import { KindProvider } from './kind-provider.ts';
import { LocalProvider } from './local-provider.ts';

export function selectProvider(name = process.env.AMBIT_E2E_PROVIDER ?? 'local'): ClusterProvider {
  switch (name) {
    case 'local':
      return new LocalProvider();
    case 'kind':
      return new KindProvider();
    default:
      throw new Error(`AMBIT_E2E_PROVIDER=${name}: expected local or kind`);
  }
}
