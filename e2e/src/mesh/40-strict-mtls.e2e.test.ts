// Scenario: a namespace's PeerAuthentication STRICT refuses clients outside the mesh (plaintext),
// which PERMISSIVE (the default) lets in, while mesh clients keep working.
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

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const mesh = uniqueName('strict');
const outside = uniqueName('outside');
const url = `http://echo.${mesh}.svc.cluster.local/`;

function peerAuthentication(mode: 'STRICT' | 'PERMISSIVE'): object {
  return {
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'PeerAuthentication',
    metadata: { name: 'default', namespace: mesh },
    spec: { mtls: { mode } },
  };
}

describe('STRICT mTLS for a namespace', () => {
  beforeAll(async () => {
    await installMesh(access);
    const [node1 = '', node2 = ''] = await workerNodes(kubectl);
    await createNamespace(kubectl, mesh, true);
    await createNamespace(kubectl, outside, false);
    await Promise.all([
      deployServer(kubectl, access, mesh, 'echo', node2),
      deployClient(kubectl, access, mesh, 'client', node1),
      deployClient(kubectl, access, outside, 'client', node1),
    ]);
    for (const pod of ['client', await podOf(kubectl, mesh, 'echo')])
      await waitEnrolled(kubectl, mesh, pod);
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', mesh, outside, '--wait=false', '--ignore-not-found');
  });

  it('PERMISSIVE: a client outside the mesh gets through in plaintext', async () => {
    await apply(kubectl, [peerAuthentication('PERMISSIVE')]);
    expect((await requestUntil(kubectl, outside, 'client', url, 'ok')).ok).toBe(true);
    expect((await requestUntil(kubectl, mesh, 'client', url, 'ok')).ok).toBe(true);
  });

  it('STRICT: the same client is refused, the mesh client still gets through', async () => {
    await apply(kubectl, [peerAuthentication('STRICT')]);
    const refused = await requestUntil(kubectl, outside, 'client', url, 'fail');
    expect(refused.ok).toBe(false);
    for (let i = 0; i < 3; i++) {
      expect((await request(kubectl, outside, 'client', url)).ok).toBe(false);
      expect((await request(kubectl, mesh, 'client', url)).ok).toBe(true);
    }
  });

  it('back to PERMISSIVE: the outside client gets through again', async () => {
    await apply(kubectl, [peerAuthentication('PERMISSIVE')]);
    expect((await requestUntil(kubectl, outside, 'client', url, 'ok')).ok).toBe(true);
  });
});
