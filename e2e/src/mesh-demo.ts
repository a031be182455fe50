// `make cluster-demo`: Ambit on a real cluster, the way a user meets it. Brings the provider's
// cluster up (local by default: two kubelet nodes on this machine, needs root), installs the chart
// from this checkout with helm, labels a namespace ambient, runs a client pod on one node and a
// server on the other, and shows what the mesh did: the answer, and the server-side ztunnel's
// access-log line naming the client's SPIFFE identity over mutual TLS. The cluster stays up for a
// look around (`make e2e-down` removes it). Uses the e2e suite's install fixture, so the demo and
// the suite install Ambit the same way.
import { kubectlFor } from './kubectl.ts';
import { installMesh } from './mesh/mesh-install.ts';
import {
  createNamespace,
  deployClient,
  deployServer,
  podOf,
  requestUntil,
  waitEnrolled,
  workerNodes,
} from './mesh/workloads.ts';
import { accessLogLines } from './mesh/ztunnel-logs.ts';
import { selectProvider } from './providers/select-provider.ts';

const NAMESPACE = 'ambit-demo';

function step(text: string): void {
  console.log(`\n== ${text}`);
}

const provider = selectProvider();
step(`cluster (${provider.name} provider)`);
const access = await provider.up();
const kubectl = kubectlFor(access);

step('helm upgrade --install ambit charts/ambit -n ambit-system (images built from this checkout)');
const install = await installMesh(access);
console.log(
  install.installed
    ? `installed in ${install.seconds}s`
    : `already installed with these values (checked in ${install.seconds}s)`,
);
console.log(await kubectl('-n', 'ambit-system', 'get', 'pods', '-o', 'wide'));

const [node1, node2] = await workerNodes(kubectl);
if (!node1 || !node2) throw new Error('the demo needs two schedulable nodes');

step(
  `namespace ${NAMESPACE} labelled ambit.dev/dataplane-mode=ambient; client on ${node1}, server on ${node2}`,
);
await createNamespace(kubectl, NAMESPACE, true);
await Promise.all([
  deployServer(kubectl, access, NAMESPACE, 'echo', node2),
  deployClient(kubectl, access, NAMESPACE, 'client', node1),
]);
const server = await podOf(kubectl, NAMESPACE, 'echo');
await waitEnrolled(kubectl, NAMESPACE, 'client');
await waitEnrolled(kubectl, NAMESPACE, server);
console.log('both pods enrolled by their node agents (annotation ambit.dev/enrolled)');

step(`client → http://echo.${NAMESPACE}.svc.cluster.local/hello`);
const res = await requestUntil(
  kubectl,
  NAMESPACE,
  'client',
  `http://echo.${NAMESPACE}.svc.cluster.local/hello`,
  'ok',
  60,
);
console.log(`answer: ${res.body}`);
if (!res.ok) throw new Error('the request through the mesh failed');

step(`what ${node2}'s ztunnel saw (its access log, one line per connection)`);
const lines = await accessLogLines(
  kubectl,
  node2,
  (l) => l.reporter === 'destination' && l['dst.namespace'] === NAMESPACE,
);
const line = lines.at(-1);
if (!line) throw new Error(`no access-log line for ${NAMESPACE} on ${node2}'s ztunnel`);
for (const key of [
  'direction',
  'protocol',
  'connection_security_policy',
  'src.identity',
  'dst.identity',
  'bytes_sent',
  'bytes_received',
]) {
  if (key in line) console.log(`  ${key.padEnd(28)} ${JSON.stringify(line[key])}`);
}

step('the cluster stays up');
console.log(`export KUBECONFIG=${access.kubeconfig}`);
console.log(`alias kubectl=${access.kubectl}`);
console.log(
  `kubectl -n ${NAMESPACE} exec client -- node -e "fetch('http://echo/x').then(r => r.text()).then(console.log)"`,
);
console.log(
  `kubectl -n ambit-system logs -l app.kubernetes.io/name=ztunnel --prefix | grep '"scope":"access"'`,
);
console.log('make e2e-down   # removes the cluster');
