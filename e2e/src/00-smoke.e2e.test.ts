// The cluster smoke test: whatever the provider, pods run on two nodes, a Service's ClusterIP
// reaches a pod on another node, and Service names resolve through cluster DNS.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectlFor } from './kubectl.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const namespace = `smoke-${randomBytes(3).toString('hex')}`;

// Answers every request with the pod's own name and node.
const server = `require('node:http').createServer((req, res) => res.end(process.env.POD_NAME + ' ' + process.env.NODE_NAME)).listen(8080)`;

interface PodInfo {
  name: string;
  node: string;
}

async function echoPods(): Promise<PodInfo[]> {
  const out = await kubectl('-n', namespace, 'get', 'pods', '-l', 'app=echo', '-o', 'json');
  const list = JSON.parse(out) as {
    items: { metadata: { name: string }; spec: { nodeName: string } }[];
  };
  return list.items.map((p) => ({ name: p.metadata.name, node: p.spec.nodeName }));
}

/**
 * From inside `from`, GET the URL until the answer names pod `want`, for up to `seconds`; returns
 * how often each answer (or error) came, and the last one. Each request opens a new connection
 * (no keep-alive), so each one is balanced afresh. Failures and other answers are retried after a
 * pause: a node's kube-proxy programs a Service's endpoints a moment after the pods are Ready.
 */
async function requestUntil(
  from: string,
  url: string,
  want: string,
  seconds: number,
): Promise<{ last: string; answers: Record<string, number> }> {
  const script = `
    import { get } from 'node:http';
    const once = (url) => new Promise((resolve, reject) => {
      const req = get(url, { agent: false, timeout: 2000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', reject);
    });
    const answers = {};
    let last = '';
    for (const end = Date.now() + ${seconds * 1000}; Date.now() < end; ) {
      try {
        last = await once(${JSON.stringify(url)});
      } catch (err) {
        last = 'error: ' + (err.code ?? err.message);
      }
      answers[last] = (answers[last] ?? 0) + 1;
      if (last.startsWith(${JSON.stringify(want)} + ' ')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(JSON.stringify({ last, answers }));`;
  const out = await kubectl(
    '-n',
    namespace,
    'exec',
    from,
    '--',
    'node',
    '--input-type=module',
    '-e',
    script,
  );
  return JSON.parse(out) as { last: string; answers: Record<string, number> };
}

describe('cluster smoke', () => {
  beforeAll(async () => {
    await kubectl('create', 'namespace', namespace);
    await apply(kubectl, [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'echo', namespace },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'echo' } },
          template: {
            metadata: { labels: { app: 'echo' } },
            spec: {
              affinity: {
                podAntiAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [
                    {
                      labelSelector: { matchLabels: { app: 'echo' } },
                      topologyKey: 'kubernetes.io/hostname',
                    },
                  ],
                },
              },
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'echo',
                  image: access.testImage,
                  imagePullPolicy: 'IfNotPresent',
                  command: ['/usr/local/bin/node', '-e', server],
                  ports: [{ containerPort: 8080 }],
                  env: [
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  ],
                  readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo', namespace },
        spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ]);
    await kubectl('-n', namespace, 'rollout', 'status', 'deployment/echo', '--timeout', '180s');
  }, 240_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', namespace, '--wait=false');
  });

  it('runs the two replicas on two different nodes', async () => {
    const pods = await echoPods();
    expect(pods).toHaveLength(2);
    expect(new Set(pods.map((p) => p.node)).size).toBe(2);
  });

  it("reaches the other node's pod through the Service's ClusterIP", async () => {
    const [a, b] = await echoPods();
    if (!a || !b) throw new Error('expected two echo pods');
    const clusterIP = (
      await kubectl('-n', namespace, 'get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}')
    ).trim();
    expect(clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // The Service balances over both pods; ask until the other one answers (each try is 50/50).
    const seen = await requestUntil(a.name, `http://${clusterIP}/`, b.name, 30);
    expect(seen.last, JSON.stringify(seen.answers)).toBe(`${b.name} ${b.node}`);
    expect(b.node).not.toBe(a.node);
  });

  it('resolves the Service by name through cluster DNS', async () => {
    const [a, b] = await echoPods();
    if (!a || !b) throw new Error('expected two echo pods');
    const seen = await requestUntil(
      b.name,
      `http://echo.${namespace}.svc.cluster.local/`,
      a.name,
      30,
    );
    expect(seen.last, JSON.stringify(seen.answers)).toBe(`${a.name} ${a.node}`);
  });
});
