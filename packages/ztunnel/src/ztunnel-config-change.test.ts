// Config changes under traffic: a policy added later closes the live connections it now denies
// (and only those); a malformed config file is refused with a clear error while the last good
// config keeps serving; a bad file at start-up stops ztunnel with the field at fault.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  echo,
  MeshHarness,
  readLine,
  type StartedZtunnel,
} from './testing/mesh-harness.ts';
import { sampleValue } from './telemetry/test-fixtures.ts';

const MESH = `
workloads:
  - { name: sleep, namespace: default, serviceAccount: sleep, node: node-a, ip: "{{P}}.1" }
  - { name: curl, namespace: default, serviceAccount: curl, node: node-a, ip: "{{P}}.2" }
  - { name: db, namespace: data, serviceAccount: db, node: node-b, ip: "{{P}}.11", labels: { app: db } }
services:
  - { name: db, namespace: data, vip: "{{P}}.100", ports: [{ port: 5432, targetPort: 5432 }], selector: { app: db } }
`;

const DENY_SLEEP = `
policies:
  - apiVersion: ambit.dev/v1alpha1
    kind: AuthorizationPolicy
    metadata: { name: no-sleep, namespace: data }
    spec:
      selector: { matchLabels: { app: db } }
      action: DENY
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]
`;

describe('config changes under live traffic', () => {
  let h: MeshHarness;
  let a: StartedZtunnel;
  let b: StartedZtunnel;

  beforeAll(async () => {
    h = await MeshHarness.create();
    await h.writeConfig(MESH);
    await h.app(h.ip(11), 5432, 'db');
    a = await h.ztunnel('node-a');
    b = await h.ztunnel('node-b');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a policy added later closes the live connection it denies, counts DENY, and keeps the others', async () => {
    const fromSleep = await h.socks(a.z, h.ip(1), h.ip(100), 5432);
    const fromCurl = await h.socks(a.z, h.ip(2), h.ip(100), 5432);
    expect(await readLine(fromSleep)).toBe('db');
    expect(await readLine(fromCurl)).toBe('db');
    expect(await echo(fromSleep, 'before')).toBe('before');

    const sleepClosed = closed(fromSleep);
    await h.writeConfig(MESH + DENY_SLEEP);
    await b.z.reload();
    await sleepClosed;

    expect(await echo(fromCurl, 'still here')).toBe('still here');
    const m = await h.metrics(b.z);
    expect(
      sampleValue(m, 'istio_tcp_connections_closed_total', {
        reporter: 'destination',
        source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
        destination_workload: 'db',
        response_flags: 'DENY',
      }),
    ).toBe(1);
    const log = b.logs.json().find((l) => l.msg === 'live connection closed after a config change');
    expect(String(log?.reason)).toContain('data/no-sleep');
    fromCurl.destroy();
  });

  it('refuses a malformed config file with the reason and keeps serving the last good config', async () => {
    const generation = b.z.state.current.generation;
    await h.writeConfig(
      MESH.replace('node: node-b, ip: "{{P}}.11"', 'node: node-b, ip: "{{P}}.300"'),
    );
    await b.z.reload();
    const refused = b.logs
      .json()
      .find((l) => l.msg === 'config update refused; the last good config stays');
    const err = refused?.err as { code?: string; message?: string } | undefined;
    expect(err?.code).toBe('AMBIT_LOCAL_CONFIG');
    expect(err?.message).toContain('workloads[2].ip');
    expect(b.z.state.current.generation).toBe(generation);

    await h.writeConfig('workloads: [ { name: broken');
    await b.z.reload();
    expect(b.z.state.current.generation).toBe(generation);

    // The last good config is in force: curl still reaches db, sleep is still denied.
    const s = await h.socks(a.z, h.ip(2), h.ip(100), 5432);
    expect(await readLine(s)).toBe('db');
    s.destroy();
    await expect(h.socks(a.z, h.ip(1), h.ip(100), 5432)).rejects.toThrow(/reply 2/);
  });

  it('opens listeners for workloads that arrive and closes them (and forgets the identity) for those that leave', async () => {
    const cacheId = 'spiffe://cluster.local/ns/data/sa/cache';
    const yaml = MESH.replace(
      'services:',
      '  - { name: cache, namespace: data, serviceAccount: cache, node: node-b, ip: "{{P}}.12", labels: { app: cache } }\nservices:',
    );
    await h.app(h.ip(12), 6379, 'cache');
    await h.writeConfig(yaml + DENY_SLEEP);
    await b.z.reload();
    expect(b.z.listeningWorkloads).toContain(h.ip(12));
    expect(b.z.certs.snapshot().map((c) => c.id)).toContain(cacheId);
    const s = await h.socks(a.z, h.ip(2), h.ip(12), 6379);
    expect(await readLine(s)).toBe('cache');
    s.destroy();

    await h.writeConfig(MESH + DENY_SLEEP);
    await b.z.reload();
    expect(b.z.listeningWorkloads).not.toContain(h.ip(12));
    expect(b.z.certs.snapshot().map((c) => c.id)).not.toContain(cacheId);
    // The address is no mesh workload any more: node-a passes it through as plain TCP.
    await a.z.reload();
    const plain = await h.socks(a.z, h.ip(2), h.ip(12), 6379);
    expect(await readLine(plain)).toBe('cache');
    plain.destroy();
    await expect
      .poll(() =>
        a.logs.json().find((l) => l['dst.addr'] === `${h.ip(12)}:6379` && l.protocol === 'TCP'),
      )
      .toBeDefined();
  });

  it('refuses to start on a malformed file, naming the field', async () => {
    const bad = await MeshHarness.create();
    try {
      await bad.writeConfig('workloads: [{ name: x, node: node-a, ip: "not-an-ip" }]');
      await expect(bad.ztunnel('node-a')).rejects.toMatchObject({
        code: 'AMBIT_LOCAL_CONFIG',
        message: expect.stringContaining('workloads[0].ip') as unknown,
      });
    } finally {
      await bad.close();
    }
  });
});
