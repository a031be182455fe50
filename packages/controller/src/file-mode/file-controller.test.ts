// File mode end to end on 127.0.0.1: manifests in a directory → the real config-stream client and
// CA client (what ztunnel's --controller mode uses), with a local root and a tokens file.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient } from '@ambit/core/ca-service/client';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import { createLogger } from '@ambit/core/log';
import { ConfigStreamClient } from '@ambit/core/mesh/stream-client';
import { RESOURCE_TYPES } from '@ambit/core/mesh/stream-protocol';
import { loadConfig } from '../config.ts';
import { FileController } from './file-controller.ts';

const manifests = (webReady: boolean) => `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { ambit.dev/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: shop, uid: web-1, labels: { app: web }, annotations: { ambit.dev/enrolled: node-a/2026-01-01T00:00:00Z } }
spec: { nodeName: node-a, serviceAccountName: web }
status: { phase: Running, podIP: 10.1.0.1, conditions: [{ type: Ready, status: '${webReady ? 'True' : 'False'}' }] }
---
apiVersion: v1
kind: Pod
metadata: { name: db-1, namespace: shop, uid: db-1, annotations: { ambit.dev/enrolled: node-b/2026-01-01T00:00:00Z } }
spec: { nodeName: node-b, serviceAccountName: db }
status: { phase: Running, podIP: 10.1.0.2 }
`;

describe('file mode', () => {
  let dir: string;
  let ctl: FileController;
  const id = (ns: string, sa: string) =>
    formatSpiffeId({ trustDomain: 'cluster.local', namespace: ns, serviceAccount: sa });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-file-mode-'));
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'mesh.yaml'), manifests(true));
    await writeFile(join(dir, 'tokens.yaml'), '- { token: node-a-token, ztunnel: node-a }\n');
    const config = loadConfig(
      [
        '--manifests',
        join(dir, 'manifests'),
        '--tokens-file',
        join(dir, 'tokens.yaml'),
        '--listen',
        '127.0.0.1:0',
        '--monitoring-addr',
        '127.0.0.1:0',
        '--workload-cert-ttl',
        '2m',
      ],
      {},
    );
    if (config === 'help') throw new Error('help');
    ctl = await FileController.start(config, {
      log: createLogger({ level: 'error', out: { write: () => true } }),
      streamDebounceMs: 10,
    });
  });
  afterAll(async () => {
    await ctl?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('streams the manifests to a subscriber and follows edits', async () => {
    const s = new ConfigStreamClient({
      address: { host: '127.0.0.1', port: ctl.addresses().stream.port },
      roots: ctl.roots,
      token: { supply: () => 'node-a-token' },
      node: 'node-a',
      types: RESOURCE_TYPES,
    }).start();
    try {
      await s.ready();
      expect(s.resources('Workload').get('web-1')?.protocol).toBe('HBONE');
      expect(s.resources('MeshConfig').get('mesh')?.rootsPem).toBe(ctl.roots);
      await writeFile(join(dir, 'manifests', 'mesh.yaml'), manifests(false));
      await ctl.reload();
      for (let i = 0; i < 100 && s.resources('Workload').get('web-1')?.healthy !== false; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(s.resources('Workload').get('web-1')?.healthy).toBe(false);
      // A bad edit keeps the last good state.
      await writeFile(join(dir, 'manifests', 'mesh.yaml'), 'kind: [');
      await ctl.reload();
      expect(s.resources('Workload').get('web-1')).toBeDefined();
    } finally {
      await s.close();
    }
  });

  it('signs for pods on the caller node only, and refuses unknown tokens', async () => {
    const ca = (token: string) =>
      new CaClient({
        host: '127.0.0.1',
        port: ctl.addresses().stream.port,
        rootsPem: ctl.roots,
        token: () => token,
      });
    const ok = ca('node-a-token');
    try {
      expect((await ok.requestCertificate(id('shop', 'web'))).id).toBe(id('shop', 'web'));
      // --workload-cert-ttl caps what a caller asks for, and is the default.
      const asked = Date.now();
      const long = await ok.requestCertificate(id('shop', 'web'), { ttlMs: 24 * 3_600_000 });
      expect(long.notAfter.getTime()).toBeGreaterThan(asked + 60_000);
      expect(long.notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 120_000);
      const plain = await ok.requestCertificate(id('shop', 'web'));
      expect(plain.notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 120_000);
      await expect(ok.requestCertificate(id('shop', 'db'))).rejects.toMatchObject({
        status: 403,
        message: expect.stringMatching(/NotOnCallerNode/) as unknown as string,
      });
    } finally {
      ok.close();
    }
    const bad = ca('not-a-known-token');
    await expect(bad.requestCertificate(id('shop', 'web'))).rejects.toMatchObject({ status: 401 });
    bad.close();
  });
});
