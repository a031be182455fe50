// Controller benchmark against a real API server (issue 6): P pods (bound to N fake Nodes, Running
// with IPs through the status subresource, enrolled, in ambient namespaces) and S Services are
// created; the controller runs as its own process (packages/controller/src/main.ts, production
// debounce), so its RSS and CPU are read from /proc; N real ConfigStreamClients connect, one per
// node, each with a bound ztunnel token (TokenReview). Measures:
// - change → every subscriber's ACK, for C one-pod changes (alternately a label and a readiness
//   change), from just before the API write to the moment the last client applied the Workload
//   update carrying that pod (the client sends its ACK in that same tick);
// - bytes of a full snapshot per subscriber and of a delta (the controller's own byte counters);
// - that a one-pod change is sent as a delta, not a snapshot;
// - controller RSS (idle, peak) and CPU (sync, per change, per CSR);
// - CSRs per second through the CA, with a TokenReview per request (a fresh token each) and with
//   the 10 s verdict cache hit (one token).
// Run: scripts/with-toolchain node bench/controller.ts [subscribers=20] [changes=100] [pods=1000] [services=200] [csrs=400]
// AMBIT_KUBECONFIG=<file> reuses a running API server; otherwise one is started with the e2e
// scripts (e2e/src/control-plane.ts) and stopped at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { startControlPlane, type ControlPlane } from '../e2e/src/control-plane.ts';
import { CA_PATH, encodeCertificateRequest } from '../packages/core/src/ca-service/protocol.ts';
import { createCsr } from '../packages/core/src/identity/csr.ts';
import { formatSpiffeId, type SpiffeId } from '../packages/core/src/identity/spiffe-id.ts';
import type { AnyConfigUpdate } from '../packages/core/src/mesh/config-source.ts';
import { ConfigStreamClient } from '../packages/core/src/mesh/stream-client.ts';
import type { KubeClients } from '../packages/controller/src/kube/kube-clients.ts';
import {
  createNode,
  createRunningPod,
  ensureNamespace,
  ensureServiceAccount,
  installCrds,
  kubeClients,
  MERGE_PATCH,
  requestToken,
  setPodStatus,
  waitFor,
} from '../packages/controller/src/testing/kube-fixtures.ts';
import { ENROLLED_ANNOTATION } from '../packages/controller/src/translate/names.ts';

const [subscribers = 20, changes = 100, podCount = 1000, serviceCount = 200, csrCount = 400] =
  process.argv.slice(2).map(Number);
const NAMESPACES = 10;
const ZTUNNEL_TYPES = ['Workload', 'Service', 'Authorization', 'MeshConfig'] as const;
const CONCURRENCY = 16;
const id = randomBytes(3).toString('hex');
const sys = `bench-sys-${id}`;
const nsName = (k: number) => `bench-${id}-${k}`;
const nodeName = (i: number) => `bench-${id}-n${i}`;
const root = new URL('..', import.meta.url).pathname;

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const log = (m: string) =>
  process.stderr.write(`[bench controller ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (t: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

/** CPU time (ms, user+system) and RSS/peak RSS (MiB) of a process, from /proc. */
function proc(pid: number): { cpuMs: number; rssMb: number; hwmMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuMs: (ticks * 1000) / 100, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** Sum of a Prometheus counter's samples whose labels include `labels`. */
async function metric(port: number, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface Pod {
  namespace: string;
  name: string;
  node: string;
  ip: string;
  uid: string;
}

async function populate(c: KubeClients): Promise<{ pods: Pod[]; ztunnelTokens: string[] }> {
  await ensureNamespace(c, sys);
  await ensureServiceAccount(c, sys, 'ztunnel');
  for (let k = 0; k < NAMESPACES; k++)
    await ensureNamespace(c, nsName(k), { 'ambit.dev/dataplane-mode': 'ambient' });
  for (let k = 0; k < NAMESPACES; k++)
    await waitFor(`default ServiceAccount in ${nsName(k)}`, () =>
      c.core.readNamespacedServiceAccount({ namespace: nsName(k), name: 'default' }),
    );
  const nodes = Array.from({ length: subscribers }, (_, i) => nodeName(i));
  await pool(nodes, CONCURRENCY, (n) => createNode(c, n));
  // One ztunnel pod per node: its bound token is what a ztunnel presents.
  const ztunnelTokens: string[] = [];
  await pool(nodes, CONCURRENCY, async (n, i) => {
    const z = await createRunningPod(c, {
      namespace: sys,
      name: `ztunnel-${i}`,
      node: n,
      ip: `10.99.${i >> 8}.${(i & 255) + 1}`,
      serviceAccount: 'ztunnel',
      enrolled: false,
    });
    ztunnelTokens[i] = await requestToken(c, sys, 'ztunnel', {
      pod: { name: `ztunnel-${i}`, uid: z.metadata?.uid ?? '' },
    });
  });
  const perNs = Math.ceil(serviceCount / NAMESPACES);
  const pods: Pod[] = [];
  const t0 = performance.now();
  await pool(
    Array.from({ length: podCount }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      const namespace = nsName(i % NAMESPACES);
      const node = nodeName(Math.floor(i / NAMESPACES) % subscribers); // every namespace on every node
      const name = `pod-${i}`;
      const ip = `10.100.${i >> 8}.${i & 255}`;
      const created = await c.core.createNamespacedPod({
        namespace,
        body: {
          metadata: {
            name,
            labels: { app: `svc-${Math.floor(i / NAMESPACES) % perNs}` },
            annotations: { [ENROLLED_ANNOTATION]: `${node}/2026-01-01T00:00:00Z` },
          },
          spec: {
            nodeName: node,
            automountServiceAccountToken: false,
            containers: [
              { name: 'app', image: 'registry.invalid/app:1', ports: [{ containerPort: 8080 }] },
            ],
          },
        },
      });
      await setPodStatus(c, namespace, name, { ip, ready: true });
      pods[i] = { namespace, name, node, ip, uid: created.metadata?.uid ?? '' };
    },
  );
  log(`${podCount} pods in ${fmt((performance.now() - t0) / 1000)} s`);
  await pool(
    Array.from({ length: serviceCount }, (_, j) => j),
    CONCURRENCY,
    async (j) => {
      await c.core.createNamespacedService({
        namespace: nsName(j % NAMESPACES),
        body: {
          metadata: { name: `svc-${Math.floor(j / NAMESPACES)}` },
          spec: {
            selector: { app: `svc-${Math.floor(j / NAMESPACES)}` },
            ports: [{ name: 'http', port: 80, targetPort: 8080 }],
          },
        },
      });
    },
  );
  log(`${serviceCount} services`);
  return { pods, ztunnelTokens };
}

function startController(kubeconfig: string, port: number, monitoring: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      `${root}packages/controller/src/main.ts`,
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      sys,
      '--listen',
      `127.0.0.1:${port}`,
      '--monitoring-addr',
      `127.0.0.1:${monitoring}`,
      '--identity',
      `bench-${id}`,
      '--lease-duration',
      '15',
      '--log-level',
      'warn',
      '--waypoint-image',
      'registry.invalid/waypoint:bench',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return child;
}

/** POSTs `n` CSRs, `concurrency` at a time over one HTTP/2 session; returns CSRs per second. */
async function csrBurst(
  port: number,
  roots: string,
  tokens: (i: number) => string,
  csrs: { id: SpiffeId; csrPem: string }[],
  n: number,
  concurrency: number,
): Promise<{ perSecond: number; failed: number; ms: number }> {
  const session = h2connect(`https://127.0.0.1:${port}`, {
    ca: roots,
    servername: `ambit-controller.${sys}.svc`,
  });
  let failed = 0;
  const post = (i: number) =>
    new Promise<void>((resolve) => {
      const csr = csrs[i % csrs.length] as { id: SpiffeId; csrPem: string };
      const req = session.request({
        ':method': 'POST',
        ':path': CA_PATH,
        'content-type': 'application/json',
        authorization: `Bearer ${tokens(i)}`,
      });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', () => {});
      req.on('end', () => {
        if (status !== 200) failed++;
        resolve();
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(encodeCertificateRequest(csr));
    });
  const t0 = performance.now();
  await pool(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    (i) => post(i),
  );
  const ms = performance.now() - t0;
  session.close();
  return { perSecond: (n * 1000) / ms, failed, ms };
}

async function main(): Promise<void> {
  const load0 = loadavg();
  let plane: ControlPlane | undefined;
  let kubeconfig = process.env.AMBIT_KUBECONFIG;
  if (kubeconfig === undefined) {
    log('starting a control plane (e2e/scripts/control-plane.sh)');
    plane = await startControlPlane();
    kubeconfig = plane.kubeconfig;
  }
  const c = kubeClients(kubeconfig);
  let controller: ChildProcess | undefined;
  const clients: ConfigStreamClient[] = [];
  try {
    const refused = await installCrds(c);
    if (refused.size > 0) throw new Error(`CRDs refused: ${[...refused.keys()].join(', ')}`);
    const { pods, ztunnelTokens } = await populate(c);

    const port = await freePort();
    const monitoring = await freePort();
    const tStart = performance.now();
    controller = startController(kubeconfig, port, monitoring);
    const pid = controller.pid ?? 0;
    await waitFor(
      'controller ready',
      async () => (await fetch(`http://127.0.0.1:${monitoring}/healthz/ready`)).ok,
      120_000,
    );
    const readyMs = performance.now() - tStart;
    const cm = await waitFor(
      'ambit-root-cert',
      () => c.core.readNamespacedConfigMap({ namespace: nsName(0), name: 'ambit-root-cert' }),
      60_000,
    );
    const roots = cm.data?.['root-cert.pem'] ?? '';
    const atReady = proc(pid);
    log(`controller pid ${pid} ready in ${fmt(readyMs / 1000)} s`);

    // Subscribers. waiting: the uid whose Workload update each client must still apply.
    let waiting: { uid: string; left: Set<number>; done: () => void } | undefined;
    let snapshotsDuringChanges = 0;
    let maxChangedPerUpdate = 0;
    let measuring = false;
    const onUpdate = (i: number) => (u: AnyConfigUpdate) => {
      if (u.type !== 'Workload') return;
      if (measuring) {
        if (u.snapshot) snapshotsDuringChanges++;
        maxChangedPerUpdate = Math.max(maxChangedPerUpdate, u.changed.length + u.removed.length);
      }
      if (waiting !== undefined && u.changed.includes(waiting.uid)) {
        waiting.left.delete(i);
        if (waiting.left.size === 0) waiting.done();
      }
    };
    const tConnect = performance.now();
    for (let i = 0; i < subscribers; i++) {
      const token = ztunnelTokens[i] ?? '';
      clients.push(
        new ConfigStreamClient({
          address: { host: '127.0.0.1', port },
          roots,
          serverName: `ambit-controller.${sys}.svc`,
          token: { supply: () => token },
          node: nodeName(i),
          types: ZTUNNEL_TYPES,
          backoff: { initialMs: 100, maxMs: 1000 },
          onUpdate: onUpdate(i),
        }).start(),
      );
    }
    await Promise.all(clients.map((s) => s.ready()));
    const connectMs = performance.now() - tConnect;
    const held = clients[0]?.resources('Workload').size ?? 0;
    const snapshot: Record<string, number> = {};
    for (const type of ZTUNNEL_TYPES)
      snapshot[type] =
        (await metric(monitoring, 'ambit_controller_config_bytes_total', {
          type,
          mode: 'snapshot',
        })) / subscribers;
    log(`${subscribers} subscribers synced in ${fmt(connectMs)} ms, ${held} workloads each`);

    // One-pod changes, one after another.
    const pushes0 = await metric(monitoring, 'ambit_controller_config_pushes_total', {
      type: 'Workload',
      mode: 'delta',
    });
    const bytes0 = await metric(monitoring, 'ambit_controller_config_bytes_total', {
      type: 'Workload',
      mode: 'delta',
    });
    const snapPushes0 = await metric(monitoring, 'ambit_controller_config_pushes_total', {
      mode: 'snapshot',
    });
    const before = proc(pid);
    const ms: Record<'label' | 'readiness', number[]> = { label: [], readiness: [] };
    let timedOut = 0;
    measuring = true;
    const ready = new Map<string, boolean>();
    for (let i = 0; i < changes; i++) {
      const p = pods[(i * 7919) % pods.length] as Pod;
      const kind = i % 2 === 0 ? 'label' : 'readiness';
      const done = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        waiting = {
          uid: p.uid,
          left: new Set(clients.map((_, k) => k)),
          done: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
      });
      const t0 = performance.now();
      if (kind === 'label') {
        await c.core.patchNamespacedPod(
          {
            namespace: p.namespace,
            name: p.name,
            body: { metadata: { labels: { rev: `r${i}` } } },
          },
          MERGE_PATCH,
        );
      } else {
        const next = !(ready.get(p.uid) ?? true);
        ready.set(p.uid, next);
        await setPodStatus(c, p.namespace, p.name, { ip: p.ip, ready: next });
      }
      if (await done) ms[kind].push(performance.now() - t0);
      else timedOut++;
      waiting = undefined;
    }
    measuring = false;
    const after = proc(pid);
    const deltaPushes =
      (await metric(monitoring, 'ambit_controller_config_pushes_total', {
        type: 'Workload',
        mode: 'delta',
      })) - pushes0;
    const deltaBytes =
      ((await metric(monitoring, 'ambit_controller_config_bytes_total', {
        type: 'Workload',
        mode: 'delta',
      })) -
        bytes0) /
      deltaPushes;
    const snapPushes =
      (await metric(monitoring, 'ambit_controller_config_pushes_total', { mode: 'snapshot' })) -
      snapPushes0;

    // CSRs: ztunnel of node 0 asks for identities of pods on node 0 (default SA of each namespace).
    const csrs = await Promise.all(
      Array.from({ length: NAMESPACES }, async (_, k) => {
        const sid = formatSpiffeId({
          trustDomain: 'cluster.local',
          namespace: nsName(k),
          serviceAccount: 'default',
        });
        return { id: sid, csrPem: (await createCsr(sid)).csrPem };
      }),
    );
    const z0 = await c.core.readNamespacedPod({ namespace: sys, name: 'ztunnel-0' });
    log(`requesting ${csrCount} fresh ztunnel tokens`);
    const fresh: string[] = [];
    await pool(
      Array.from({ length: csrCount }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        fresh[i] = await requestToken(c, sys, 'ztunnel', {
          pod: { name: 'ztunnel-0', uid: z0.metadata?.uid ?? '' },
        });
      },
    );
    const cpuCsr0 = proc(pid).cpuMs;
    const withReview = await csrBurst(port, roots, (i) => fresh[i] ?? '', csrs, csrCount, 32);
    const cpuCsr1 = proc(pid).cpuMs;
    const cached = await csrBurst(port, roots, () => ztunnelTokens[0] ?? '', csrs, csrCount, 32);
    const cpuCsr2 = proc(pid).cpuMs;
    const end = proc(pid);
    const load1 = loadavg();

    // Report.
    const all = [...ms.label, ...ms.readiness].sort((a, b) => a - b);
    const lab = [...ms.label].sort((a, b) => a - b);
    const rdy = [...ms.readiness].sort((a, b) => a - b);
    const total = Object.values(snapshot).reduce((a, b) => a + b, 0);
    const out: string[] = [];
    out.push(
      `Controller (real API server) — node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}); load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end`,
    );
    out.push(
      `${podCount} pods on ${subscribers} nodes in ${NAMESPACES} ambient namespaces, ${serviceCount} services; controller as its own process (debounce 100 ms); ${subscribers} ConfigStreamClients (ztunnel types), one per node; ${changes} one-pod changes (label / readiness alternately)`,
    );
    out.push('');
    out.push('| change → every subscriber ACKed | n | p50 ms | p99 ms | max ms |');
    out.push('| --- | ---: | ---: | ---: | ---: |');
    for (const [name, s] of [
      ['all', all],
      ['label change', lab],
      ['readiness change', rdy],
    ] as const)
      out.push(
        `| ${name} | ${s.length} | ${fmt(pct(s, 50))} | ${fmt(pct(s, 99))} | ${fmt(s.at(-1) ?? NaN)} |`,
      );
    out.push('');
    out.push(
      `Changes that timed out (10 s): ${timedOut}. During the changes: ${snapPushes} snapshot messages, ${snapshotsDuringChanges} Workload snapshots applied by clients, at most ${maxChangedPerUpdate} Workload key(s) per update.`,
    );
    out.push(
      `Full snapshot per subscriber: ${fmt(total / 1024)} KiB (${Object.entries(snapshot)
        .map(([t, b]) => `${t} ${fmt(b / 1024)} KiB`)
        .join(
          ', ',
        )}); ${held} Workloads held. Typical Workload delta: ${fmt(deltaBytes, 0)} bytes (${deltaPushes} delta messages).`,
    );
    out.push('');
    out.push('| controller process | value |');
    out.push('| --- | ---: |');
    out.push(`| start → ready (informers synced, CA loaded) | ${fmt(readyMs / 1000, 2)} s |`);
    out.push(`| CPU from start to ready | ${fmt(atReady.cpuMs, 0)} ms |`);
    out.push(`| ${subscribers} subscribers connect and sync | ${fmt(connectMs, 0)} ms |`);
    out.push(`| RSS after the changes | ${fmt(after.rssMb, 0)} MiB |`);
    out.push(`| peak RSS (VmHWM) at the end | ${fmt(end.hwmMb, 0)} MiB |`);
    out.push(
      `| CPU per one-pod change (translation + ${subscribers} pushes) | ${fmt((after.cpuMs - before.cpuMs) / changes)} ms |`,
    );
    out.push(
      `| CSRs/s, a TokenReview each (fresh token, 32 in flight) | ${fmt(withReview.perSecond)} (${withReview.failed} failed; ${fmt((cpuCsr1 - cpuCsr0) / csrCount, 2)} ms CPU each) |`,
    );
    out.push(
      `| CSRs/s, TokenReview verdict cached (same token, 32 in flight) | ${fmt(cached.perSecond)} (${cached.failed} failed; ${fmt((cpuCsr2 - cpuCsr1) / csrCount, 2)} ms CPU each) |`,
    );
    const text = out.join('\n');
    console.log(text);
    mkdirSync(`${root}bench/results`, { recursive: true });
    const file = `${root}bench/results/controller-${new Date().toISOString().replace(/[:.]/g, '-')}.md`;
    writeFileSync(file, `\`\`\`\n${text}\n\`\`\`\n`);
    log(`written to ${file}`);
  } finally {
    await Promise.all(clients.map((s) => s.close()));
    if (controller?.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller?.once('exit', r));
    }
    if (plane !== undefined) await plane.stop();
    else {
      log('deleting the benchmark namespaces and nodes');
      for (const ns of [sys, ...Array.from({ length: NAMESPACES }, (_, k) => nsName(k))])
        await c.core.deleteNamespace({ name: ns }).catch(() => {});
      for (let i = 0; i < subscribers; i++)
        await c.core.deleteNode({ name: nodeName(i) }).catch(() => {});
    }
  }
}

await main();
