// Scenario: with a short workload certificate TTL (ca.workloadCertTtl=60s), ztunnel renews each
// certificate at about half-life, and rotation under continuous traffic fails no request: new
// connections (new HBONE streams, on sessions made with the new certificate) and one keep-alive
// connection that stays open on its old session throughout.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, MESH_NAMESPACE, podOnNode } from './mesh-install.ts';
import { clientAndServer, requestLoad, runInPod, sleep, uniqueName } from './workloads.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const ns = uniqueName('rotation');
const url = `http://echo.${ns}.svc.cluster.local/`;
const TTL_SECONDS = 60;
/** Longer than two TTLs: every certificate rotates at least twice. */
const LOAD_SECONDS = 150;
let node1 = '';
let node2 = '';

interface CertSummary {
  identity: string;
  notBefore: string;
  notAfter: string;
}

/** The certificates a node's ztunnel holds (admin endpoint /config_dump, localhost only). */
async function certificates(node: string): Promise<CertSummary[]> {
  const pod = await podOnNode(kubectl, 'ztunnel', node);
  const dump = await runInPod<{ certificates: CertSummary[] }>(
    kubectl,
    MESH_NAMESPACE,
    pod,
    `const r = await fetch('http://127.0.0.1:15000/config_dump');
    console.log(JSON.stringify(await r.json()));`,
  );
  return dump.certificates;
}

async function certOf(node: string, identity: string): Promise<CertSummary> {
  const cert = (await certificates(node)).find((c) => c.identity === identity);
  if (!cert) throw new Error(`ztunnel on ${node} holds no certificate for ${identity}`);
  return cert;
}

describe('certificate rotation under traffic (60 s TTL)', () => {
  const serverId = `spiffe://cluster.local/ns/${ns}/sa/echo`;
  const clientId = `spiffe://cluster.local/ns/${ns}/sa/client`;

  beforeAll(async () => {
    const result = await installMesh(access, {
      values: { ca: { workloadCertTtl: `${TTL_SECONDS}s` } },
    });
    console.error(`[e2e] mesh with a ${TTL_SECONDS}s certificate TTL in ${result.seconds}s`);
    ({ node1, node2 } = await clientAndServer(kubectl, access, ns, url));
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('the certificates ztunnel holds for the new pods live 60 s', async () => {
    for (const [node, id] of [
      [node2, serverId],
      [node1, clientId],
    ] as const) {
      const cert = await certOf(node, id);
      const left = Date.parse(cert.notAfter) - Date.now();
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(TTL_SECONDS * 1000);
    }
  });

  it(
    'rotates both sides about every half-life with zero failed requests',
    async () => {
      const seen = { server: new Set<string>(), client: new Set<string>() };
      const first = await certOf(node2, serverId);
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          seen.server.add((await certOf(node2, serverId)).notAfter);
          seen.client.add((await certOf(node1, clientId)).notAfter);
          await sleep(2000);
        }
      })();
      const load = await requestLoad(kubectl, ns, 'client', url, LOAD_SECONDS).finally(() => {
        sampling = false;
      });
      await sampler;
      const last = await certOf(node2, serverId);
      console.error(
        `[e2e] rotation: ${load.ok} requests ok (${load.persistentOk} on one keep-alive connection), ` +
          `${load.failed} failed; server certificates seen ${seen.server.size}, client ${seen.client.size}`,
      );

      expect(load.firstFailures).toEqual([]);
      expect(load.failed).toBe(0);
      expect(load.ok).toBeGreaterThan(LOAD_SECONDS); // both loops ran throughout
      expect(load.persistentOk).toBeGreaterThan(LOAD_SECONDS / 2);
      // The serving certificate changed (a new one, issued later, expiring later) …
      expect(Date.parse(last.notBefore)).toBeGreaterThan(Date.parse(first.notBefore));
      expect(Date.parse(last.notAfter)).toBeGreaterThan(Date.parse(first.notAfter));
      // … about every half-life (30 s): 150 s shows 5 or 6 certificates, not one per second.
      for (const certs of [seen.server, seen.client]) {
        expect(certs.size).toBeGreaterThanOrEqual(3);
        expect(certs.size).toBeLessThanOrEqual(LOAD_SECONDS / 20 + 2);
      }
    },
    LOAD_SECONDS * 1000 + 120_000,
  );
});
