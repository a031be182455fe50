// Scenario: labelling a namespace `ambit.dev/dataplane-mode=ambient` puts its pods in the mesh.
// A request from a pod on one node to a pod on another (through the Service) succeeds, the server
// side's ztunnel reports the client's SPIFFE identity over mutual TLS, and a packet capture on the
// nodes sees only HBONE (port 15008) and never the request's plaintext — while the same capture
// does see the plaintext of a pair outside the mesh.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, providerFor } from './mesh-install.ts';
import { startCapture } from './node-tools.ts';
import {
  createNamespace,
  deployClient,
  deployServer,
  podFacts,
  podOf,
  request,
  requestUntil,
  uniqueName,
  waitEnrolled,
  workerNodes,
} from './workloads.ts';
import { accessLogLines } from './ztunnel-logs.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const provider = providerFor(access);
const mesh = uniqueName('mtls');
const plain = uniqueName('plain');
let node1 = '';
let node2 = '';

const url = (ns: string, marker: string): string => `http://echo.${ns}.svc.cluster.local/${marker}`;
const marker = (): string => `ambit-marker-${randomBytes(8).toString('hex')}`;

describe('an ambient namespace, pods on two nodes', () => {
  beforeAll(async () => {
    await installMesh(access);
    [node1 = '', node2 = ''] = await workerNodes(kubectl);
    await createNamespace(kubectl, mesh, true);
    await createNamespace(kubectl, plain, false);
    await Promise.all([
      deployServer(kubectl, access, mesh, 'echo', node2),
      deployClient(kubectl, access, mesh, 'client', node1),
      deployServer(kubectl, access, plain, 'echo', node2),
      deployClient(kubectl, access, plain, 'client', node1),
    ]);
    await waitEnrolled(kubectl, mesh, 'client');
    await waitEnrolled(kubectl, mesh, await podOf(kubectl, mesh, 'echo'));
    // kube-proxy and the mesh config reach the nodes a moment after the pods are Ready.
    expect((await requestUntil(kubectl, mesh, 'client', url(mesh, 'warmup'), 'ok')).ok).toBe(true);
    expect((await requestUntil(kubectl, plain, 'client', url(plain, 'warmup'), 'ok')).ok).toBe(
      true,
    );
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', mesh, plain, '--wait=false', '--ignore-not-found');
  });

  it("the request succeeds and the server's ztunnel reports the client's SPIFFE identity over mTLS", async () => {
    const m = marker();
    const res = await request(kubectl, mesh, 'client', url(mesh, m));
    expect(res.ok).toBe(true);
    expect(res.body).toMatch(new RegExp(`^echo-.* /${m}$`));

    const server = await podFacts(kubectl, mesh, await podOf(kubectl, mesh, 'echo'));
    expect(server.node).toBe(node2);
    const lines = await accessLogLines(
      kubectl,
      node2,
      (l) => l.reporter === 'destination' && l['dst.namespace'] === mesh,
    );
    expect(lines[0]).toMatchObject({
      direction: 'inbound',
      protocol: 'HBONE',
      connection_security_policy: 'mutual_tls',
      'src.identity': `spiffe://cluster.local/ns/${mesh}/sa/client`,
      'dst.identity': `spiffe://cluster.local/ns/${mesh}/sa/echo`,
      response_flags: '-',
    });
  });

  it('a capture on both nodes sees HBONE on port 15008 and never the plaintext', async () => {
    const client = await podFacts(kubectl, mesh, 'client');
    const m = marker();
    const captures = await Promise.all(
      [node1, node2].map((n) => startCapture(provider, n, `tcp and host ${client.ip}`)),
    );
    const res = await request(kubectl, mesh, 'client', url(mesh, m));
    const [seen1 = '', seen2 = ''] = await Promise.all(captures.map((c) => c.stop()));
    expect(res.ok).toBe(true);
    for (const seen of [seen1, seen2]) {
      expect(seen).toMatch(/\.15008[ :]/);
      expect(seen).not.toContain(m);
    }
  });

  it('the same capture sees the plaintext of a pair outside the mesh', async () => {
    const client = await podFacts(kubectl, plain, 'client');
    const m = marker();
    const capture = await startCapture(provider, node1, `tcp and host ${client.ip}`);
    const res = await request(kubectl, plain, 'client', url(plain, m));
    const seen = await capture.stop();
    expect(res.ok).toBe(true);
    expect(seen).toContain(`GET /${m}`);
    expect(seen).not.toMatch(/\.15008[ :]/);
  });
});
