// Scenario: an L4 AuthorizationPolicy with action DENY (docs/policy.md) blocks one caller by its
// SPIFFE identity while another caller of the same server still gets through.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectlFor } from '../kubectl.ts';
import { installMesh } from './mesh-install.ts';
import {
  createNamespace,
  deployClient,
  deployServer,
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
const ns = uniqueName('deny');
const url = `http://echo.${ns}.svc.cluster.local/`;
let node2 = '';

describe('an L4 DENY policy', () => {
  beforeAll(async () => {
    await installMesh(access);
    const [node1 = ''] = await workerNodes(kubectl);
    [, node2 = ''] = await workerNodes(kubectl);
    await createNamespace(kubectl, ns, true);
    await Promise.all([
      deployServer(kubectl, access, ns, 'echo', node2),
      deployClient(kubectl, access, ns, 'allowed', node1),
      deployClient(kubectl, access, ns, 'denied', node1),
    ]);
    for (const pod of ['allowed', 'denied', await podOf(kubectl, ns, 'echo')])
      await waitEnrolled(kubectl, ns, pod);
    // Both callers get through before the policy.
    expect((await requestUntil(kubectl, ns, 'allowed', url, 'ok')).ok).toBe(true);
    expect((await requestUntil(kubectl, ns, 'denied', url, 'ok')).ok).toBe(true);
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('blocks the caller it names and lets the other one through', async () => {
    await apply(kubectl, [
      {
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-one-caller', namespace: ns },
        spec: {
          selector: { matchLabels: { app: 'echo' } },
          action: 'DENY',
          rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/denied`] } }] }],
        },
      },
    ]);
    // The policy reaches the server's ztunnel through the controller's config stream.
    const blocked = await requestUntil(kubectl, ns, 'denied', url, 'fail');
    expect(blocked.ok).toBe(false);
    expect(blocked.body).toMatch(/^error: /);
    // Steadily: the denied caller fails every time, the other one succeeds every time.
    for (let i = 0; i < 3; i++) {
      expect((await request(kubectl, ns, 'denied', url)).ok).toBe(false);
      expect((await request(kubectl, ns, 'allowed', url)).ok).toBe(true);
    }
    const denials = await accessLogLines(
      kubectl,
      node2,
      (l) => l['dst.namespace'] === ns && l.response_flags === 'DENY',
    );
    expect(denials[0]).toMatchObject({
      reporter: 'destination',
      'src.identity': `spiffe://cluster.local/ns/${ns}/sa/denied`,
    });
    expect(String(denials[0]?.error)).toContain(`${ns}/deny-one-caller`);
  });

  it('lets the caller through again once the policy is deleted', async () => {
    await kubectl('-n', ns, 'delete', 'authorizationpolicy', 'deny-one-caller');
    expect((await requestUntil(kubectl, ns, 'denied', url, 'ok')).ok).toBe(true);
  });
});
