import { afterEach, describe, expect, it } from 'vitest';
import { createTestPki } from '@ambit/core/testing/pki';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { emptySnapshot, type MeshSnapshot } from '../state/mesh-snapshot.ts';
import { httpGet, testSnapshot } from '../telemetry/test-fixtures.ts';
import { startAdminServer } from './admin-server.ts';
import type { ConfigSourceStatus } from './config-dump.ts';
import type { HttpEndpoint } from './http-endpoint.ts';
import { startReadinessServer, ztunnelReadiness } from './readiness-server.ts';

const endpoints: HttpEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

describe('admin /config_dump', () => {
  it('shows the config source, the mesh snapshot, certificates without keys, and live connections', async () => {
    const pki = await createTestPki();
    const now = Date.UTC(2030, 0, 1);
    const cert = await pki.issue('default', 'sleep', {
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 7200_000),
    });
    const source: ConfigSourceStatus = {
      kind: 'local-file',
      location: '/etc/ambit/mesh.yaml',
      connected: true,
      lastUpdateMs: now - 1000,
    };
    let live = 3;
    const admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      configDump: {
        configSource: () => source,
        snapshot: testSnapshot,
        certificates: (): TlsIdentity[] => [cert],
        liveConnections: () => live,
        now: () => now,
      },
    });
    endpoints.push(admin);

    const r = await httpGet(admin.port, '/config_dump');
    expect(r.status).toBe(200);
    expect(r.contentType).toContain('application/json');
    const dump = JSON.parse(r.body) as {
      configSource: ConfigSourceStatus;
      mesh: {
        generation: number;
        meshConfig: { trustDomain: string };
        workloads: { name: string; ips: string[] }[];
        services: { hostname: string }[];
        policies: { name: string }[];
      };
      certificates: Record<string, unknown>[];
      liveConnections: number;
    };
    expect(dump.configSource).toEqual(source);
    expect(dump.mesh.generation).toBe(1);
    expect(dump.mesh.meshConfig.trustDomain).toBe('cluster.local');
    expect(dump.mesh.workloads.map((w) => w.name).sort()).toEqual([
      'reviews-v2-7c9b',
      'sleep-6d8f',
    ]);
    expect(dump.mesh.workloads.find((w) => w.name === 'sleep-6d8f')?.ips).toEqual(['127.0.1.1']);
    expect(dump.mesh.services.map((s) => s.hostname)).toEqual([
      'reviews.bookinfo.svc.cluster.local',
    ]);
    expect(dump.mesh.policies.map((p) => p.name)).toEqual(['reviews-from-sleep']);
    expect(dump.certificates).toEqual([
      {
        identity: 'spiffe://cluster.local/ns/default/sa/sleep',
        notBefore: new Date(now - 60_000).toISOString(),
        notAfter: new Date(now + 7200_000).toISOString(),
        secondsToExpiry: 7200,
        chainLength: cert.certChain.match(/BEGIN CERTIFICATE/g)?.length,
      },
    ]);
    expect(r.body).not.toContain('PRIVATE KEY');
    expect(dump.liveConnections).toBe(3);

    live = 0;
    const again = JSON.parse((await httpGet(admin.port, '/config_dump')).body) as {
      liveConnections: number;
    };
    expect(again.liveConnections).toBe(0);
  });

  it('answers 500 with the reason when a provider throws, 405 to POST, 404 to unknown paths', async () => {
    const admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      configDump: {
        configSource: () => ({ kind: 'controller', connected: false }),
        snapshot: (): MeshSnapshot => {
          throw new Error('state not wired');
        },
        certificates: () => [],
        liveConnections: () => 0,
      },
    });
    endpoints.push(admin);
    const r = await httpGet(admin.port, '/config_dump');
    expect(r.status).toBe(500);
    expect(r.body).toContain('state not wired');
    const post = await fetch(`http://127.0.0.1:${admin.port}/config_dump`, { method: 'POST' });
    expect(post.status).toBe(405);
    await post.text();
    expect((await httpGet(admin.port, '/stats')).status).toBe(404);
  });
});

describe('readiness /healthz/ready', () => {
  it('is 503 with reasons until config and certificates are there, then 200', async () => {
    let snapshot = emptySnapshot();
    let certs = 0;
    const ready = await startReadinessServer({
      host: '127.0.0.1',
      port: 0,
      readiness: ztunnelReadiness({
        configReceived: () => snapshot.generation > 0,
        certificatesAvailable: () => certs > 0,
      }),
    });
    endpoints.push(ready);

    let r = await httpGet(ready.port, '/healthz/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({
      ready: false,
      reasons: ['no mesh config received yet', 'workload certificates not available yet'],
    });

    snapshot = testSnapshot();
    r = await httpGet(ready.port, '/healthz/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({
      ready: false,
      reasons: ['workload certificates not available yet'],
    });

    certs = 1;
    r = await httpGet(ready.port, '/healthz/ready');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ready\n');
  });
});
