// The waypoint binary as a child process with a local config file and identity directory: it
// starts, reports ready, serves a request through HBONE, and on SIGTERM stops being ready, lets a
// request in flight finish and exits 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeIdentityFiles } from '@ambit/core/hbone/identity-files';
import { HbonePool } from '@ambit/core/hbone/pool';
import { HboneServer } from '@ambit/core/hbone/server';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { createTestPki } from '@ambit/core/testing/pki';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const net = `127.79.${process.pid % 250}`;
const POD_IP = `${net}.2`;
const VIP = `10.96.79.10`;

describe('waypoint main (child process)', () => {
  let dir: string;
  let child: ChildProcess;
  let app: ReturnType<typeof createServer>;
  let podHbone: HboneServer;
  let clientId: TlsIdentity;
  let waypointId: TlsIdentity;
  let listening: { hbone: { address: string; port: number }; readinessPort: number };
  const held: ServerResponse[] = [];
  const lines: string[] = [];

  beforeAll(async () => {
    const pki = await createTestPki();
    waypointId = await pki.issue('app', 'waypoint');
    clientId = await pki.issue('client', 'client');
    const podId = await pki.issue('app', 'echo');
    dir = await mkdtemp(join(tmpdir(), 'waypoint-main-'));
    await writeIdentityFiles(join(dir, 'id'), 'waypoint', waypointId);
    app = createServer((req, res) => {
      if (req.url !== '/slow') return void res.end(`echo ${req.url}`);
      res.writeHead(200).flushHeaders();
      held.push(res); // answered by the test
    });
    await new Promise<void>((r) => app.listen(8080, POD_IP, r));
    // The pod's ztunnel stand-in: HBONE on the pod IP, port 15008 (the waypoint's default).
    podHbone = new HboneServer({
      identity: podId,
      trustDomain: pki.trustDomain,
      host: POD_IP,
      port: 15008,
      authorize: (ctx) => Promise.resolve(ctx.peerId === waypointId.id || { deny: 'not waypoint' }),
      dial: (ctx) =>
        new Promise<Duplex>((resolve, reject) => {
          const s = netConnect(ctx.target.port, ctx.target.host);
          s.once('connect', () => resolve(s)).once('error', reject);
        }),
    });
    await podHbone.listen();
    await writeFile(
      join(dir, 'mesh.yaml'),
      [
        `mesh: {trustDomain: ${pki.trustDomain}}`,
        `workloads: [{name: echo, namespace: app, serviceAccount: echo, node: n1, ip: ${POD_IP}, labels: {app: echo}}]`,
        `services: [{name: echo, namespace: app, vip: ${VIP}, ports: [{port: 80, targetPort: 8080}], selector: {app: echo}}]`,
        '',
      ].join('\n'),
    );
    child = spawn(
      process.execPath,
      [
        MAIN,
        ...['--name', 'waypoint', '--namespace', 'app', '--config-file', join(dir, 'mesh.yaml')],
        ...['--identity-dir', join(dir, 'id'), '--hbone', '127.0.0.1:0'],
        ...['--metrics-port', '0', '--readiness-port', '0', '--drain-ms', '20000'],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const rl = createInterface({ input: child.stdout! });
    listening = await new Promise((resolve, reject) => {
      child.once('exit', (code) =>
        reject(new Error(`waypoint exited ${code}: ${lines.join('\n')}`)),
      );
      rl.on('line', (l) => {
        lines.push(l);
        const m = JSON.parse(l) as { msg: string };
        if (m.msg === 'waypoint listening') resolve(m as never);
      });
    });
  }, 30_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await podHbone?.close({ graceMs: 0 });
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves over HBONE, then drains on SIGTERM and exits 0', async () => {
    const ready = () =>
      fetch(`http://127.0.0.1:${listening.readinessPort}/healthz/ready`).then((r) => r.status);
    expect(await ready()).toBe(200);

    const hbone = new HbonePool();
    const client = new Pool(`http://echo.app`, {
      connect: (_o, cb) => {
        hbone
          .connect({
            address: { host: '127.0.0.1', port: listening.hbone.port },
            authority: `${VIP}:80`,
            source: clientId,
            expectedPeers: [waypointId.id],
          })
          .then(
            (s) => cb(null, s as never),
            (e: Error) => cb(e, null),
          );
        return undefined;
      },
    });
    try {
      const r = await client.request({ path: '/hi', method: 'GET' });
      expect(r.statusCode).toBe(200);
      expect(await r.body.text()).toBe('echo /hi');

      // A request in flight when SIGTERM arrives still completes.
      const slow = await client.request({ path: '/slow', method: 'GET' });
      expect(slow.statusCode).toBe(200);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await expect.poll(ready).toBe(503);
      held[0]?.end('finished after SIGTERM');
      expect(await slow.body.text()).toBe('finished after SIGTERM');
      await client.close();
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(lines.some((l) => l.includes('drained'))).toBe(true);
    } finally {
      await client.destroy();
      await hbone.close();
    }
  }, 30_000);
});
