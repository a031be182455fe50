// HTTP from inside a client pod for the waypoint scenario (60-waypoint): batches of requests run
// by Node in the pod (kubectl exec), tallied there so only counts cross the exec; plus the
// waypoint's Prometheus metrics read through the API server's pod proxy.
import type { Kubectl } from '../kubectl.ts';
import { runInPod } from './workloads.ts';

export interface HttpAnswer {
  /** HTTP status, or 0 when the request failed (connect error, reset, timeout). */
  status: number;
  /** The body, or `error: <code>` when status is 0. */
  body: string;
  /** The response headers asked for in `headers` (lower-case names), when present. */
  headers: Record<string, string>;
}

export interface HttpBatchOptions {
  method?: string;
  /** Requests in all (default 1). */
  count?: number;
  /** Requests in flight at once, over keep-alive connections (default 1: one after another). */
  concurrency?: number;
  /** Response headers to report. */
  headers?: readonly string[];
  /** Per-request timeout, ms (default 5000). */
  timeoutMs?: number;
}

export interface HttpBatch {
  /** Answers by `<status> <first word of the body>` (e.g. `200 web-v2-6d…`, `503 flaky`). */
  byKey: Record<string, number>;
  /** The first answer of each key, whole. */
  samples: Record<string, HttpAnswer>;
  /** Every answer's key in order (only for batches up to 50 requests). */
  keys?: string[];
}

// One request over a keep-alive agent (sockets reused across the batch), resolved never rejected.
const CLIENT = `
  import { Agent, request } from 'node:http';
  const send = (agent, method, url, names, timeoutMs) => new Promise((resolve) => {
    const req = request(url, { method, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => {
        const headers = {};
        for (const n of names) if (res.headers[n] !== undefined) headers[n] = String(res.headers[n]);
        resolve({ status: res.statusCode, body, headers });
      });
      res.on('error', (err) => resolve({ status: 0, body: 'error: ' + (err.code ?? err.message), headers: {} }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => resolve({ status: 0, body: 'error: ' + (err.code ?? err.message), headers: {} }));
    req.end();
  });
  const keyOf = (a) => a.status + ' ' + (a.body.trim().split(/\\s+/)[0] ?? '');`;

/** Sends `count` requests to `url` from `pod` and tallies the answers. */
export async function httpBatch(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
  opts: HttpBatchOptions = {},
): Promise<HttpBatch> {
  const args = JSON.stringify({
    url,
    method: opts.method ?? 'GET',
    count: opts.count ?? 1,
    concurrency: opts.concurrency ?? 1,
    names: opts.headers ?? [],
    timeoutMs: opts.timeoutMs ?? 5000,
  });
  return runInPod(
    kubectl,
    namespace,
    pod,
    `${CLIENT}
    const a = ${args};
    const agent = new Agent({ keepAlive: true, maxSockets: a.concurrency });
    const out = { byKey: {}, samples: {}, keys: [] };
    let next = 0;
    const worker = async () => {
      while (next < a.count) {
        next++;
        const r = await send(agent, a.method, a.url, a.names, a.timeoutMs);
        const k = keyOf(r);
        out.byKey[k] = (out.byKey[k] ?? 0) + 1;
        out.samples[k] ??= r;
        out.keys.push(k);
      }
    };
    await Promise.all(Array.from({ length: a.concurrency }, worker));
    agent.destroy();
    if (a.count > 50) delete out.keys;
    console.log(JSON.stringify(out));`,
  );
}

/** One request from `pod`. */
export async function httpOnce(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
  opts: Omit<HttpBatchOptions, 'count' | 'concurrency'> = {},
): Promise<HttpAnswer> {
  const batch = await httpBatch(kubectl, namespace, pod, url, { ...opts, count: 1 });
  const answer = Object.values(batch.samples)[0];
  if (answer === undefined) throw new Error(`no answer from ${url}`);
  return answer;
}

/**
 * Repeats one request from `pod` (every 300 ms, up to `seconds`) until `until` — a JavaScript
 * expression over the answer `r` (`r.status === 403`, `r.headers['x-route'] === 'split'`) — holds;
 * returns the last answer. For the moment between applying an object and the waypoint having it.
 */
export async function httpUntil(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  url: string,
  until: string,
  opts: Omit<HttpBatchOptions, 'count' | 'concurrency'> & { seconds?: number } = {},
): Promise<HttpAnswer> {
  const args = JSON.stringify({
    url,
    method: opts.method ?? 'GET',
    names: opts.headers ?? [],
    timeoutMs: opts.timeoutMs ?? 3000,
    seconds: opts.seconds ?? 30,
  });
  return runInPod(
    kubectl,
    namespace,
    pod,
    `${CLIENT}
    const a = ${args};
    const done = (r) => (${until});
    let last;
    for (const end = Date.now() + a.seconds * 1000; Date.now() < end; ) {
      const agent = new Agent({ keepAlive: false });
      last = await send(agent, a.method, a.url, a.names, a.timeoutMs);
      if (done(last)) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(JSON.stringify(last));`,
  );
}

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A pod's Prometheus text from `port` (default the mesh's 15020) via the API server's pod proxy. */
export async function podMetrics(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
  port = 15020,
): Promise<MetricSample[]> {
  const text = await kubectl(
    'get',
    '--raw',
    `/api/v1/namespaces/${namespace}/pods/${pod}:${port}/proxy/metrics`,
  );
  return parseMetrics(text);
}

/** Prometheus text exposition, samples only (`name{a="b",…} value`); comments skipped. */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples of `name` whose labels include `labels`. */
export function metricSum(
  samples: readonly MetricSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/**
 * The waypoint's access log (packages/waypoint/src/layers/observe.ts): one JSON line per request,
 * message `request`, from `kubectl logs` of a waypoint pod.
 */
export async function waypointAccessLog(
  kubectl: Kubectl,
  namespace: string,
  pod: string,
): Promise<Record<string, unknown>[]> {
  const out = await kubectl('-n', namespace, 'logs', pod);
  const lines: Record<string, unknown>[] = [];
  for (const text of out.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line.msg === 'request') lines.push(line);
    } catch {
      // Not JSON after all.
    }
  }
  return lines;
}
