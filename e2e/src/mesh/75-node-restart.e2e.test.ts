// Scenario: restarting the node agent and ztunnel on a node (deleting their pods, as an upgrade or
// a crash would). What the docs promise, and what this asserts:
// - node agent (docs/cni.md, "State and restarts"): the new agent reconnects to ztunnel, whose
//   snapshot keeps the pods it still holds, listeners and live connections untouched: traffic
//   goes on with no failed request;
// - ztunnel (docs/ztunnel.md, "Drain"): the old ztunnel stops accepting and lets live
//   connections finish until the drain deadline (30 s); the agent hands every captured pod to the
//   new ztunnel, so the node's pods are re-enrolled: their new connections go over HBONE again.
//   New connections opened while no ztunnel listens in the pod fail (counted and printed, not
//   asserted); a connection opened before the restart keeps working within the drain deadline.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, MESH_NAMESPACE, podOnNode, providerFor } from './mesh-install.ts';
import { startCapture } from './node-tools.ts';
import {
  clientAndServer,
  podFacts,
  request,
  requestLoad,
  requestUntil,
  sleep,
  uniqueName,
} from './workloads.ts';
import { accessLogLines } from './ztunnel-logs.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const provider = providerFor(access);
const ns = uniqueName('restart');
const url = `http://echo.${ns}.svc.cluster.local/`;
let node1 = '';
let node2 = '';

/** Deletes a node's pod of a DaemonSet component and waits for its replacement to be Ready. */
async function restart(component: string, node: string): Promise<string> {
  const old = await podOnNode(kubectl, component, node);
  await kubectl('-n', MESH_NAMESPACE, 'delete', 'pod', old, '--wait=false');
  for (let i = 0; i < 240; i++) {
    const now = await podOnNode(kubectl, component, node).catch(() => old);
    if (now !== old) {
      await kubectl(
        '-n',
        MESH_NAMESPACE,
        'wait',
        '--for=condition=Ready',
        `pod/${now}`,
        '--timeout=120s',
      );
      return now;
    }
    await sleep(500);
  }
  throw new Error(`no new ${component} pod on ${node}`);
}

describe('restarting the node agent and ztunnel on the client node', () => {
  beforeAll(async () => {
    await installMesh(access);
    ({ node1, node2 } = await clientAndServer(kubectl, access, ns, url));
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('node agent restart: no request fails', async () => {
    const load = requestLoad(kubectl, ns, 'client', url, 30);
    await sleep(3000);
    const agent = await restart('ambit-node-agent', node1);
    // The new agent connected to ztunnel and sent its snapshot.
    for (let i = 0; i < 60; i++) {
      if ((await kubectl('-n', MESH_NAMESPACE, 'logs', agent)).includes('ztunnel synced')) break;
      await sleep(1000);
    }
    const result = await load;
    console.error(
      `[e2e] agent restart: ${result.ok} ok, ${result.failed} failed ${JSON.stringify(result.errors)}`,
    );
    expect(result.firstFailures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(30);
  }, 180_000);

  it('ztunnel restart: live connections finish in the drain, the pod is re-enrolled on HBONE', async () => {
    const load = requestLoad(kubectl, ns, 'client', url, 20);
    await sleep(3000);
    const restartedAt = new Date().toISOString();
    await restart('ztunnel', node1);
    const result = await load;
    console.error(
      `[e2e] ztunnel restart: ${result.ok} ok, ${result.failed} failed (new connections ${JSON.stringify(result.errors)}; ` +
        `keep-alive connection ${result.persistentOk} ok, ${result.persistentFailed} failed)`,
    );
    // The connection opened before the restart lived through it (within the drain deadline).
    expect(result.persistentFailed).toBe(0);
    expect(result.persistentOk).toBeGreaterThan(20);

    // Re-enrolled: new connections from the same pod work and go over HBONE with its identity.
    expect((await requestUntil(kubectl, ns, 'client', url, 'ok')).ok).toBe(true);
    const client = await podFacts(kubectl, ns, 'client');
    const marker = `ambit-marker-${randomBytes(8).toString('hex')}`;
    const capture = await startCapture(provider, node1, `tcp and host ${client.ip}`);
    const res = await request(kubectl, ns, 'client', `${url}${marker}`);
    const seen = await capture.stop();
    expect(res.ok).toBe(true);
    expect(seen).toMatch(/\.15008[ :]/);
    expect(seen).not.toContain(marker);
    const lines = await accessLogLines(
      kubectl,
      node2,
      (l) =>
        l.reporter === 'destination' &&
        String(l.time) > restartedAt &&
        l['src.identity'] === `spiffe://cluster.local/ns/${ns}/sa/client`,
    );
    expect(lines.at(-1)).toMatchObject({
      connection_security_policy: 'mutual_tls',
      response_flags: '-',
    });
  }, 240_000);
});
