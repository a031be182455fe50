// The waypoint fed by the controller's config stream (a real test stream server peer, TLS + token):
// it subscribes with its name and the five types, applies and ACKs snapshots (requests then follow
// the streamed route), and NACKs a route it cannot build while the last good config keeps serving.
// The local file source applies a file once per change.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigSource } from '@ambit/core/mesh/config-source';
import type { Route } from '@ambit/core/mesh/route-types';
import { DEFAULT_MESH_CONFIG, type ServiceKey } from '@ambit/core/mesh/types';
import { TestStreamServer } from '@ambit/core/testing/stream-server';
import { APP_NS, startHarness, type Harness } from '../testing/harness.ts';
import { startConfigSource } from './start-config-source.ts';
import { WaypointState } from './waypoint-state.ts';

const VIP = '10.96.201.10';

function service(name: string, vip: string, pods: string[]) {
  return {
    name,
    namespace: APP_NS,
    hostname: `${name}.${APP_NS}.svc.cluster.local`,
    vips: [vip],
    ports: [{ port: 80, targetPort: 8080 }],
    endpoints: pods.map((p) => ({ workloadUid: `uid-${p}` })),
  };
}

function routeTo(backend: string, path: string): Route {
  return {
    name: 'r',
    namespace: APP_NS,
    createdAt: '2024-01-01T00:00:00Z',
    parents: [{ service: `${APP_NS}/front` as ServiceKey }],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: path } }],
        filters: [],
        backends: [
          {
            kind: 'service',
            service: `${APP_NS}/${backend}` as ServiceKey,
            hostname: `${backend}.${APP_NS}.svc.cluster.local`,
            port: 80,
            weight: 1,
          },
        ],
      },
    ],
  };
}

describe('waypoint config from the controller stream', () => {
  let h: Harness;
  let server: TestStreamServer;
  let source: ConfigSource;
  let dir: string;
  const errors: Error[] = [];

  beforeAll(async () => {
    h = await startHarness();
    for (const name of ['front', 'back'])
      await h.addPod({ name, handler: (req, res) => res.end(`${name} ${req.url}`) });
    const controller = await h.pki.issue('ambit-system', 'ambit-controller');
    server = new TestStreamServer({
      identity: controller,
      authenticate: (t) => t === 'waypoint-token',
    });
    const { port } = await server.listen();
    dir = await mkdtemp(join(tmpdir(), 'waypoint-stream-'));
    await writeFile(join(dir, 'token'), 'waypoint-token\n');
    await writeFile(join(dir, 'roots.pem'), h.pki.rootCertPem);
    source = await startConfigSource({
      origin: {
        kind: 'controller',
        address: { host: '127.0.0.1', port },
        tokenPath: join(dir, 'token'),
        rootsPath: join(dir, 'roots.pem'),
        serverId: controller.id,
      },
      name: 'waypoint',
      state: h.state,
      onError: (e) => errors.push(e),
    });
  });
  afterAll(async () => {
    await source?.close();
    await server?.close();
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies and ACKs what the controller streams; NACKs a bad route and keeps the last good one', async () => {
    const conn = await server.nextConnection();
    expect(conn.token).toBe('waypoint-token');
    expect(conn.subscribe.node).toBe('waypoint');
    expect([...conn.subscribe.types].sort()).toEqual(
      ['Authorization', 'MeshConfig', 'Route', 'Service', 'Workload'].sort(),
    );
    const pods = [...h.pods.values()].map((p) => p.workload);
    const sent = [
      {
        type: 'MeshConfig' as const,
        resources: [{ ...DEFAULT_MESH_CONFIG, trustDomain: h.pki.trustDomain }],
      },
      { type: 'Workload' as const, resources: pods },
      {
        type: 'Service' as const,
        resources: [service('front', VIP, ['front']), service('back', '10.96.201.11', ['back'])],
      },
      { type: 'Authorization' as const, resources: [] },
      { type: 'Route' as const, resources: [routeTo('back', '/api')] },
    ];
    for (const u of sent) expect((await conn.send({ ...u, version: 'v1' })).kind).toBe('ack');

    expect(h.state.current().mesh.services.size).toBe(2);
    const tunnelTo = async (path: string) => {
      const s = await h.tunnel(`${VIP}:80`);
      s.write(`GET ${path} HTTP/1.1\r\nhost: front\r\nconnection: close\r\n\r\n`);
      let text = '';
      for await (const chunk of s) text += String(chunk);
      return text.slice(text.indexOf('\r\n\r\n') + 4);
    };
    expect(await tunnelTo('/api/x')).toBe('back /api/x');
    expect(await tunnelTo('/home')).toContain('no route of app/front matches GET /home');

    const bad = routeTo('back', '/api');
    const nack = await conn.send({
      type: 'Route',
      version: 'v2',
      resources: [
        {
          ...bad,
          rules: [
            { ...bad.rules[0], matches: [{ path: { type: 'RegularExpression', value: '(' } }] },
          ],
        },
      ],
    });
    expect(nack.kind).toBe('nack');
    expect(errors.length).toBeGreaterThan(0);
    expect(await tunnelTo('/api/y')).toBe('back /api/y');
  });
});

describe('the local config file source', () => {
  it('applies the file once per change, not once per poll', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-wp-file-'));
    const path = join(dir, 'mesh.yaml');
    const text = (vip: string): string =>
      `mesh: { trustDomain: cluster.local }\nservices:\n  - { name: a, namespace: app, vip: ${vip}, ports: [{ port: 80, targetPort: 8080 }] }\n`;
    await writeFile(path, text('10.96.0.1'));
    const state = new WaypointState();
    const errors: Error[] = [];
    const source = await startConfigSource({
      origin: { kind: 'file', path },
      name: 'w',
      state,
      onError: (e) => errors.push(e),
      pollIntervalMs: 20,
    });
    try {
      const first = state.current();
      expect(first.mesh.services.size).toBe(1);
      await new Promise((r) => setTimeout(r, 200)); // ~10 polls of an unchanged file
      expect(state.current()).toBe(first);
      await writeFile(path, text('10.96.0.2'));
      const deadline = Date.now() + 5000;
      while (state.current() === first && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(state.current().generation).toBe(first.generation + 1);
      expect(errors).toEqual([]);
    } finally {
      await source.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
