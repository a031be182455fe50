// `node e2e/src/cli.ts up|down`: the cluster of the provider AMBIT_E2E_PROVIDER names
// (local | kind), for `make e2e-up` / `make e2e-down` and for a look around by hand.
import { selectProvider } from './providers/select-provider.ts';

const command = process.argv[2] ?? '';
const provider = selectProvider();
if (command === 'up') {
  const access = await provider.up();
  console.log(`export KUBECONFIG=${access.kubeconfig}`);
  console.log(`alias kubectl=${access.kubectl}`);
} else if (command === 'down') {
  await provider.down();
} else {
  console.error('usage: node e2e/src/cli.ts up|down');
  process.exit(2);
}
