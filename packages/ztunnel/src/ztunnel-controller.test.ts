// ztunnel fed by the controller's config stream instead of a file (a test stream server peer):
// the snapshot is applied and ACKed, local workloads get their listeners, and an update that does
// not validate is NACKed while the last good config keeps serving.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki } from '@ambit/core/testing/pki';
import { TestStreamServer } from '@ambit/core/testing/stream-server';
import { loadConfig } from './config.ts';
import { LineSink } from './telemetry/test-fixtures.ts';
import { Ztunnel } from './ztunnel.ts';

const prefix = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}`;
const workload = (name: string, ip: string, node: string) => ({
  uid: `uid-${name}`,
  name,
  namespace: 'shop',
  serviceAccount: name,
  node,
  ips: [ip],
  protocol: 'HBONE',
  labels: { app: name },
  workloadName: name,
  canonicalName: name,
  canonicalRevision: 'latest',
  healthy: true,
});

describe('ztunnel with the controller config stream', () => {
  let dir: string;
  let server: TestStreamServer;
  let z: Ztunnel;
  const logs = new LineSink();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-ztunnel-ctl-'));
    const pki = await createTestPki();
    const controller = await pki.issue('ambit-system', 'ambit-controller');
    server = new TestStreamServer({
      identity: controller,
      authenticate: (t) => t === 'node-token',
    });
    const { port } = await server.listen();
    await writeFile(join(dir, 'roots.pem'), pki.rootCertPem);
    await writeFile(join(dir, 'token'), 'node-token\n');
    const config = loadConfig(
      [
        '--controller',
        `127.0.0.1:${port}`,
        '--token-path',
        join(dir, 'token'),
        '--ca-dir',
        join(dir, 'ca'),
        '--node-name',
        'node-a',
        '--admin-addr',
        '127.0.0.1:0',
        '--metrics-addr',
        '127.0.0.1:0',
        '--readiness-addr',
        '127.0.0.1:0',
        '--socks5-addr',
        'off',
      ],
      {},
      dir,
    );
    if (config === 'help') throw new Error('help');
    z = await Ztunnel.start({
      config,
      rootsFile: join(dir, 'roots.pem'),
      controllerServerId: controller.id,
      inboundPlaintextPort: 15006,
      logOut: logs,
    });
  });
  afterAll(async () => {
    await z?.shutdown(0);
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies and ACKs snapshots, opens local listeners, NACKs a conflicting update and keeps the last good config', async () => {
    const conn = await server.nextConnection();
    expect(conn.subscribe.node).toBe('node-a');
    const ready = async (): Promise<number> =>
      (await fetch(`http://127.0.0.1:${z.addresses.readiness.port}/healthz/ready`)).status;
    expect(await ready()).toBe(503);

    const ack = await conn.send({
      type: 'Workload',
      version: 'v1',
      resources: [
        workload('cart', `${prefix}.1`, 'node-a'),
        workload('pay', `${prefix}.2`, 'node-b'),
      ],
    });
    expect(ack.kind).toBe('ack');
    for (const type of ['Service', 'Authorization'] as const) {
      expect((await conn.send({ type, version: 'v1', resources: [] })).kind).toBe('ack');
    }
    await expect.poll(() => z.listeningWorkloads).toEqual([`${prefix}.1`]);
    await expect.poll(ready).toBe(200);

    const nack = await conn.send({
      type: 'Workload',
      version: 'v2',
      resources: [
        workload('cart', `${prefix}.1`, 'node-a'),
        workload('clash', `${prefix}.1`, 'node-a'),
      ],
    });
    expect(nack.kind).toBe('nack');
    expect(z.state.current.workloads.size).toBe(2);
    expect(z.listeningWorkloads).toEqual([`${prefix}.1`]);
  });
});
