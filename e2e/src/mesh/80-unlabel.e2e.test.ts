// Scenario: removing the namespace label `ambit.dev/dataplane-mode` takes its running pods out of
// the mesh without a restart: the node agent removes their redirection rules (the pod netns's
// `inet ambit` table) and the enrolled annotation, and traffic goes plain again (a capture sees
// the request's plaintext).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlFor } from '../kubectl.ts';
import { installMesh, providerFor } from './mesh-install.ts';
import { podNetnsRuleset, startCapture } from './node-tools.ts';
import {
  AMBIENT_LABEL,
  clientAndServer,
  podFacts,
  request,
  requestUntil,
  uniqueName,
  waitEnrolled,
} from './workloads.ts';

const access = inject('ambitCluster');
const kubectl = kubectlFor(access);
const provider = providerFor(access);
const ns = uniqueName('unlabel');
const url = `http://echo.${ns}.svc.cluster.local/`;
let node1 = '';
let node2 = '';
let server = '';

/** One request with a fresh marker while tcpdump runs on the client's node. */
async function capturedRequest(): Promise<{ ok: boolean; marker: string; seen: string }> {
  const client = await podFacts(kubectl, ns, 'client');
  const marker = `ambit-marker-${randomBytes(8).toString('hex')}`;
  const capture = await startCapture(provider, node1, `tcp and host ${client.ip}`);
  const res = await request(kubectl, ns, 'client', `${url}${marker}`);
  return { ok: res.ok, marker, seen: await capture.stop() };
}

describe('unlabelling an ambient namespace', () => {
  beforeAll(async () => {
    await installMesh(access);
    ({ node1, node2, server } = await clientAndServer(kubectl, access, ns, url));
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false', '--ignore-not-found');
  });

  it('in the mesh: HBONE on the wire, the capture rules in both pods', async () => {
    const { ok, marker, seen } = await capturedRequest();
    expect(ok).toBe(true);
    expect(seen).toMatch(/\.15008[ :]/);
    expect(seen).not.toContain(marker);
    const client = await podFacts(kubectl, ns, 'client');
    const echo = await podFacts(kubectl, ns, server);
    expect(await podNetnsRuleset(provider, node1, client.ip)).toContain('table inet ambit');
    expect(await podNetnsRuleset(provider, node2, echo.ip)).toContain('table inet ambit');
  });

  it('unlabelled: the same pods talk plaintext, their rules and annotations are gone', async () => {
    await kubectl('label', 'namespace', ns, `${AMBIENT_LABEL}-`);
    for (const pod of ['client', server]) await waitEnrolled(kubectl, ns, pod, false);
    const client = await podFacts(kubectl, ns, 'client');
    const echo = await podFacts(kubectl, ns, server);
    expect(await podNetnsRuleset(provider, node1, client.ip)).not.toContain('table inet ambit');
    expect(await podNetnsRuleset(provider, node2, echo.ip)).not.toContain('table inet ambit');

    expect((await requestUntil(kubectl, ns, 'client', url, 'ok')).ok).toBe(true);
    const { ok, marker, seen } = await capturedRequest();
    expect(ok).toBe(true);
    expect(seen).toContain(`GET /${marker}`);
    expect(seen).not.toMatch(/\.15008[ :]/);
    // Same pods, not restarted.
    expect((await podFacts(kubectl, ns, 'client')).ip).toBe(client.ip);
  });
});
