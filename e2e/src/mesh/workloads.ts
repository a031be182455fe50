// Small test workloads for the mesh scenarios, all from the provider's test image (Node 24): an
// HTTP server behind a Service and idle client pods that requests are run from with kubectl exec.
// Every workload is pinned to a node (nodeName), so client and server are on the nodes a scenario
// wants.
import { randomBytes } from 'node:crypto';
import type { ClusterAccess } from '../providers/cluster-provider.ts';
import { apply, type Kubectl } from '../kubectl.ts';

export const AMBIENT_LABEL = 'ambit.dev/dataplane-mode';

/** A fresh namespace name: `<prefix>-<6 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** The nodes pods can be scheduled on (no control-plane taint), sorted by name. */
export async function workerNodes(kubectl: Kubectl): Promise<string[]> {
  const out = await kubectl('get', 'nodes', '-o', 'json');
  const list = JSON.parse(out) as {
    items: { metadata: { name: string }; spec: { taints?: { key: string }[] } }[];
  };
  return list.items
    .filter((n) => !(n.spec.taints ?? []).some((t) => t.key.includes('control-plane')))
    .map((n) => n.metadata.name)
    .sort();
}

export async function createNamespace(
  kubectl: Kubectl,
  name: string,
  ambient: boolean,
): Promise<void> {
  await apply(kubectl, [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: ambient ? { [AMBIENT_LABEL]: 'ambient' } : {} },
    },
  ]);
  // The namespace's default ServiceAccount comes from the controller-manager, a moment later.
  for (let i = 0; i < 100; i++) {
    if ((await kubectl('-n', name, 'get', 'serviceaccounts', '-o', 'name')).includes('default'))
      return;
    await sleep(200);
  }
}

// Answers every request with `<pod name> <path>`. Keeps connections open (keep-alive) as long as
// the client wants.
const SERVER = `require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => res.end(process.env.POD_NAME + ' ' + req.url)); }).listen(8080)`;
const IDLE = `setInterval(() => {}, 1 << 30)`;

function podSpec(
  access: ClusterAccess,
  node: string,
  serviceAccount: string,
  command: string,
  port?: number,
): object {
  return {
    nodeName: node,
    serviceAccountName: serviceAccount,
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'main',
        image: access.testImage,
        imagePullPolicy: 'IfNotPresent',
        command: ['/usr/local/bin/node', '-e', command],
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        ...(port !== undefined && {
          ports: [{ containerPort: port }],
          readinessProbe: { tcpSocket: { port }, periodSeconds: 1 },
        }),
      },
    ],
  };
}

/**
 * A server Deployment `name` (one replica on `node`, ServiceAccount `name`) and its Service `name`
 * (port 80 → 8080). Waits for the rollout.
 */
export async function deployServer(
  kubectl: Kubectl,
  access: ClusterAccess,
  namespace: string,
  name: string,
  node: string,
): Promise<void> {
  await apply(kubectl, [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: podSpec(access, node, name, SERVER, 8080),
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
  ]);
  await kubectl('-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=180s');
}

/** An idle client Pod `name` on `node` with its own ServiceAccount `name`. Waits until Ready. */
export async function deployClient(
  kubectl: Kubectl,
  access: ClusterAccess,
  namespace: string,
  name: string,
  node: string,
): Promise<void> {
  await apply(kubectl, [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { app: name } },
      spec: podSpec(access, node, name, IDLE),
    },
  ]);
  await kubectl('-n', namespace, 'wait', '--for=condition=Ready', `pod/${name}`, '--timeout=180s');
}

export interface ClientAndServer {
  /** The worker nodes, sorted: the client runs on node1, the server on node2. */
  node1: string;
  node2: string;
  /** The server Deployment's pod. */
  server: string;
}

/**
 * The set-up most scenarios share: namespace `ns` (ambient unless told otherwise), server
 * Deployment + Service `echo` on the second worker node and client Pod `client` on the first, both
 * enrolled when ambient, and one request to `url` answered from the client (kube-proxy and the
 * mesh config reach the nodes a moment after the pods are Ready).
 */
export async function clientAndServer(
  kubectl: Kubectl,
  access: ClusterAccess,
  ns: string,
  url: string,
  ambient = true,
): Promise<ClientAndServer> {
  const [node1, node2] = await workerNodes(kubectl);
  if (!node1 || !node2) throw new Error('the scenario needs two worker nodes');
  await createNamespace(kubectl, ns, ambient);
  await Promise.all([
    deployServer(kubectl, access, ns, 'echo', node2),
    deployClient(kubectl, access, ns, 'client', node1),
  ]);
  const server = await podOf(kubectl, ns, 'echo');
  if (ambient) for (const pod of ['client', server]) await waitEnrolled(kubectl, ns, pod);
  const warm = await requestUntil(kubectl, ns, 'client', url, 'ok');
  if (!warm.ok) throw new Error(`${ns}: client never reached ${url}: ${warm.body}`);
  return { node1, node2, server };
}

export interface PodFacts {
  name: string;
  node: string;
  ip: string;
  annotations: Record<string, string>;
}

export async function podFacts(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
): Promise<PodFacts> {
  const out = await kubectl('-n', namespace, 'get', 'pod', pod, '-o', 'json');
  const p = JSON.parse(out) as {
    metadata: { name: string; annotations?: Record<string, string> };
    spec: { nodeName: string };
    status: { podIP?: string };
  };
  return {
    name: p.metadata.name,
    node: p.spec.nodeName,
    ip: p.status.podIP ?? '',
    annotations: p.metadata.annotations ?? {},
  };
}

/** The pod of a one-replica Deployment (`app=<name>`), not terminating. */
export async function podOf(kubectl: Kubectl, namespace: string, app: string): Promise<string> {
  const out = await kubectl('-n', namespace, 'get', 'pods', '-l', `app=${app}`, '-o', 'json');
  const list = JSON.parse(out) as {
    items: { metadata: { name: string; deletionTimestamp?: string } }[];
  };
  const pod = list.items.find((p) => !p.metadata.deletionTimestamp);
  if (!pod) throw new Error(`no pod app=${app} in ${namespace}`);
  return pod.metadata.name;
}

/** Waits until the node agent has enrolled the pod (its `ambit.dev/enrolled` annotation). */
export async function waitEnrolled(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  enrolled = true,
  seconds = 60,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const facts = await podFacts(kubectl, namespace, pod);
    if ('ambit.dev/enrolled' in facts.annotations === enrolled) return;
    if (Date.now() > deadline)
      throw new Error(`${namespace}/${pod}: enrolled annotation still ${String(!enrolled)}`);
    await sleep(500);
  }
}

export interface RequestResult {
  ok: boolean;
  /** The body, or `error: <code>`. */
  body: string;
}

// One GET per call on a new connection (no keep-alive), 3 s timeout.
const ONCE = `
  import { get } from 'node:http';
  const once = (url) => new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve({ ok: res.statusCode === 200, body }));
      res.on('error', (err) => resolve({ ok: false, body: 'error: ' + (err.code ?? err.message) }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => resolve({ ok: false, body: 'error: ' + (err.code ?? err.message) }));
  });`;

/** Runs a Node ES module in a pod (kubectl exec) and parses the JSON line it prints last. */
export async function runInPod<T>(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  script: string,
): Promise<T> {
  const out = await kubectl(
    '-n',
    namespace,
    'exec',
    pod,
    '--',
    '/usr/local/bin/node',
    '--input-type=module',
    '-e',
    script,
  );
  const last = out.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as T;
}

/** One GET from `pod` to `url` on a new connection. */
export async function request(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
): Promise<RequestResult> {
  return runInPod(
    kubectl,
    namespace,
    pod,
    `${ONCE}\nconsole.log(JSON.stringify(await once(${JSON.stringify(url)})));`,
  );
}

/**
 * GETs from `pod` until one succeeds (or fails, with `want: 'fail'`) or `seconds` pass; returns the
 * last result. For the moments after a change (enrolment, a policy, kube-proxy endpoints) that a
 * scenario waits out before asserting steady behaviour.
 */
export async function requestUntil(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
  want: 'ok' | 'fail',
  seconds = 30,
): Promise<RequestResult> {
  return runInPod(
    kubectl,
    namespace,
    pod,
    `${ONCE}
    let last;
    for (const end = Date.now() + ${seconds * 1000}; Date.now() < end; ) {
      last = await once(${JSON.stringify(url)});
      if (last.ok === ${want === 'ok'}) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(JSON.stringify(last));`,
  );
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** Failures by body (`error: ECONNRESET`, an unexpected answer, …), with the first times. */
  errors: Record<string, number>;
  firstFailures: string[];
  /** Requests over the one keep-alive connection (old HBONE stream) that stays open throughout. */
  persistentOk: number;
  persistentFailed: number;
}

/**
 * Continuous traffic from `pod` for `seconds`: a new connection per request every `intervalMs`,
 * plus one keep-alive connection (reopened only if it breaks) sending a request every
 * `intervalMs` too. Counts every failure. Runs inside the pod; returns at the end.
 */
export async function requestLoad(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
  seconds: number,
  intervalMs = 200,
): Promise<LoadResult> {
  return runInPod(
    kubectl,
    namespace,
    pod,
    `${ONCE}
    import { Agent } from 'node:http';
    const keep = new Agent({ keepAlive: true, maxSockets: 1 });
    const persistent = (url) => new Promise((resolve) => {
      const req = get(url, { agent: keep, timeout: 3000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve({ ok: res.statusCode === 200, body }));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err) => resolve({ ok: false, body: 'error: ' + (err.code ?? err.message) }));
    });
    const out = { ok: 0, failed: 0, errors: {}, firstFailures: [], persistentOk: 0, persistentFailed: 0 };
    const start = Date.now();
    const note = (kind, r) => {
      out.failed++;
      const key = kind + ' ' + r.body;
      out.errors[key] = (out.errors[key] ?? 0) + 1;
      if (out.firstFailures.length < 10) out.firstFailures.push(((Date.now() - start) / 1000).toFixed(1) + 's ' + key);
    };
    const url = ${JSON.stringify(url)};
    const end = start + ${seconds * 1000};
    const fresh = (async () => {
      while (Date.now() < end) {
        const r = await once(url);
        if (r.ok) out.ok++; else note('new', r);
        await new Promise((r) => setTimeout(r, ${intervalMs}));
      }
    })();
    const kept = (async () => {
      while (Date.now() < end) {
        const r = await persistent(url);
        if (r.ok) { out.ok++; out.persistentOk++; } else { note('keep-alive', r); out.persistentFailed++; }
        await new Promise((r) => setTimeout(r, ${intervalMs}));
      }
    })();
    await Promise.all([fresh, kept]);
    keep.destroy();
    console.log(JSON.stringify(out));`,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
