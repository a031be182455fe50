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

/** From inside `from`, GET the URL up to `tries` times until the answer names pod `want`. */
async function requestUntil(
  from: string,
  url: string,
  want: string,
  tries: number,
): Promise<string[]> {
  const script = `
    const seen = [];
    for (let i = 0; i < ${tries}; i++) {
      const text = await (await fetch(${JSON.stringify(url)})).text();
      seen.push(text);
      if (text.startsWith(${JSON.stringify(want)} + ' ')) break;
    }
    console.log(JSON.stringify(seen));`;
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
  return JSON.parse(out) as string[];
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
    const seen = await requestUntil(a.name, `http://${clusterIP}/`, b.name, 40);
    expect(seen.at(-1)).toBe(`${b.name} ${b.node}`);
    expect(b.node).not.toBe(a.node);
  });

  it('resolves the Service by name through cluster DNS', async () => {
    const [a, b] = await echoPods();
    if (!a || !b) throw new Error('expected two echo pods');
    const seen = await requestUntil(
      b.name,
      `http://echo.${namespace}.svc.cluster.local/`,
      a.name,
      40,
    );
    expect(seen.at(-1)).toBe(`${a.name} ${a.node}`);
  });
});
