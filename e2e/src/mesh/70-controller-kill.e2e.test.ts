// Scenario: the controller dies (both replicas force-deleted at once) while mesh pods talk to
// each other. ztunnel keeps the last config and its certificates, so no request fails; the
// controller comes back, and pods created afterwards are enrolled and get mTLS.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, MESH_NAMESPACE, podsOf, waitForMesh } from './mesh-install.ts';
import {
  clientAndServer,
  deployClient,
  requestLoad,
  requestUntil,
  sleep,
  uniqueName,
  waitEnrolled,
} from './workloads.ts';
import { accessLogLines } from './ztunnel-logs.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const ns = uniqueName('ctrlkill');
const url = `http://echo.${ns}.svc.cluster.local/`;
let node1 = '';
let node2 = '';

describe('killing the controller during traffic', () => {
  beforeAll(async () => {
    await installMesh(access);
    ({ node1, node2 } = await clientAndServer(kubectl, access, ns, url));
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('fails no request while both controller replicas are killed and come back', async () => {
    const before = (await podsOf(kubectl, 'ambit-controller')).map((p) => p.name);
    expect(before).toHaveLength(2);
    const load = requestLoad(kubectl, ns, 'client', url, 60);
    await sleep(5000);
    // Both at once, no grace: as if their nodes died.
    await kubectl(
      '-n',
      MESH_NAMESPACE,
      'delete',
      'pods',
      ...before,
      '--grace-period=0',
      '--force',
      '--wait=false',
    );
    await waitForMesh(kubectl);
    const result = await load;
    console.error(
      `[e2e] controller kill: ${result.ok} requests ok, ${result.failed} failed ${JSON.stringify(result.errors)}`,
    );
    expect(result.firstFailures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(60);
    const after = (await podsOf(kubectl, 'ambit-controller')).filter((p) => p.ready);
    expect(after).toHaveLength(2);
    expect(after.map((p) => p.name)).not.toContain(before[0]);
  }, 240_000);

  it('enrols a pod created after the restart, which then talks mTLS', async () => {
    await deployClient(kubectl, access, ns, 'late', node1);
    await waitEnrolled(kubectl, ns, 'late');
    expect((await requestUntil(kubectl, ns, 'late', url, 'ok')).ok).toBe(true);
    const lines = await accessLogLines(
      kubectl,
      node2,
      (l) =>
        l.reporter === 'destination' &&
        l['src.identity'] === `spiffe://cluster.local/ns/${ns}/sa/late`,
    );
    expect(lines[0]).toMatchObject({
      connection_security_policy: 'mutual_tls',
      response_flags: '-',
    });
  }, 240_000);
});
