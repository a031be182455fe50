// ztunnel end to end, in-process over real sockets: two ztunnels (node-a, node-b) from one local
// config file and one local CA, apps on their own 127.x addresses, clients through SOCKS5.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Socks5Refusal } from './dev/socks5-client.ts';
import {
  closed,
  echo,
  MeshHarness,
  readLine,
  type StartedZtunnel,
} from './testing/mesh-harness.ts';
import { sampleValue } from './telemetry/test-fixtures.ts';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const INTRUDER = 'spiffe://cluster.local/ns/default/sa/intruder';
const ECHO = 'spiffe://cluster.local/ns/echo/sa/echo';

const MESH = `
mesh: { trustDomain: cluster.local, mtls: PERMISSIVE, namespaces: { secure: STRICT } }
nodes: [{ name: node-a }, { name: node-b }]
workloads:
  - { name: sleep, namespace: default, serviceAccount: sleep, node: node-a, ip: "{{P}}.1" }
  - { name: intruder, namespace: default, serviceAccount: intruder, node: node-a, ip: "{{P}}.2" }
  - { name: echo-1, namespace: echo, serviceAccount: echo, node: node-b, ip: "{{P}}.11", labels: { app: echo } }
  - { name: echo-2, namespace: echo, serviceAccount: echo, node: node-b, ip: "{{P}}.12", labels: { app: echo } }
  - { name: echo-3, namespace: echo, serviceAccount: echo, node: node-b, ip: "{{P}}.13", labels: { app: echo }, healthy: false }
  - { name: vault, namespace: secure, serviceAccount: vault, node: node-b, ip: "{{P}}.21", labels: { app: vault } }
  - { name: open, namespace: echo, serviceAccount: open, node: node-b, ip: "{{P}}.22", labels: { app: open } }
services:
  - { name: echo, namespace: echo, vip: "{{P}}.100", ports: [{ port: 80, targetPort: 8080 }], selector: { app: echo } }
  - { name: vault, namespace: secure, vip: "{{P}}.101", ports: [{ port: 80, targetPort: 8080 }], selector: { app: vault } }
  - { name: open, namespace: echo, vip: "{{P}}.102", ports: [{ port: 80, targetPort: 8080 }], selector: { app: open } }
`;

const DENY_INTRUDER = `
policies:
  - apiVersion: ambit.dev/v1alpha1
    kind: AuthorizationPolicy
    metadata: { name: no-intruder, namespace: echo }
    spec:
      action: DENY
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/intruder"] } }] }]
`;

describe('ztunnel data path (two nodes, one machine)', () => {
  let h: MeshHarness;
  let a: StartedZtunnel;
  let b: StartedZtunnel;

  beforeAll(async () => {
    h = await MeshHarness.create();
    await h.writeConfig(MESH + DENY_INTRUDER);
    for (const n of [11, 12, 13]) await h.app(h.ip(n), 8080, `echo-${n - 10}`);
    await h.app(h.ip(21), 8080, 'vault');
    await h.app(h.ip(22), 8080, 'open');
    a = await h.ztunnel('node-a');
    b = await h.ztunnel('node-b');
  });
  afterAll(async () => {
    await h?.close();
  });

  const access = (z: StartedZtunnel): Record<string, unknown>[] =>
    z.logs.json().filter((l) => l.scope === 'access');

  it('carries A → B over HBONE with both identities verified, and each side reports the other', async () => {
    const s = await h.socks(a.z, h.ip(1), h.ip(11), 8080);
    expect(await readLine(s)).toBe('echo-1');
    expect(await echo(s, 'ping over hbone')).toBe('ping over hbone');
    s.end();
    await closed(s);
    await expect.poll(() => access(b).length).toBeGreaterThan(0);
    await expect.poll(() => access(a).length).toBeGreaterThan(0);
    const inbound = access(b).find((l) => l['dst.workload'] === 'echo-1');
    const outbound = access(a).find((l) => l['dst.workload'] === 'echo-1');
    expect(inbound).toMatchObject({
      reporter: 'destination',
      'src.identity': SLEEP,
      'src.workload': 'sleep',
      'dst.identity': ECHO,
      connection_security_policy: 'mutual_tls',
      response_flags: '-',
      bytes_sent: 'ping over hbone'.length,
    });
    expect(outbound).toMatchObject({
      reporter: 'source',
      protocol: 'HBONE',
      'src.identity': SLEEP,
      'dst.identity': ECHO,
      response_flags: '-',
    });
    const m = await h.metrics(b.z);
    expect(
      sampleValue(m, 'istio_tcp_connections_closed_total', {
        reporter: 'destination',
        source_principal: SLEEP,
        destination_principal: ECHO,
        response_flags: '-',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('spreads service traffic over healthy endpoints (least loaded) and never picks the unhealthy one', async () => {
    // Connections are held open, so each new one sees the live load and goes to the endpoint
    // with fewer connections: with two healthy endpoints that is an even split.
    await expect.poll(() => a.z.registry.size).toBe(0); // earlier tests' connections are gone
    const seen = new Map<string, number>();
    const held = [];
    for (let i = 0; i < 24; i++) {
      const s = await h.socks(a.z, h.ip(1), h.ip(100), 80);
      const who = await readLine(s);
      seen.set(who, (seen.get(who) ?? 0) + 1);
      held.push(s);
    }
    expect(Object.fromEntries(seen)).toEqual({ 'echo-1': 12, 'echo-2': 12 });
    for (const s of held) s.destroy();
  });

  it('resolves a service hostname given to SOCKS5 and refuses names outside the mesh', async () => {
    const s = await h.socks(a.z, h.ip(1), 'open.echo.svc.cluster.local', 80);
    expect(await readLine(s)).toBe('open');
    s.destroy();
    const err = await h.socks(a.z, h.ip(1), 'example.com', 80).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Socks5Refusal);
    expect((err as Socks5Refusal).reply).toBe(0x04);
  });

  it('refuses a caller denied by policy at the destination and counts it as DENY', async () => {
    const err = await h.socks(a.z, h.ip(2), h.ip(11), 8080).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Socks5Refusal);
    expect((err as Socks5Refusal).reply).toBe(0x02); // not allowed by ruleset
    const m = await h.metrics(b.z);
    expect(
      sampleValue(m, 'istio_tcp_connections_closed_total', {
        reporter: 'destination',
        source_principal: INTRUDER,
        response_flags: 'DENY',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(m, 'ambit_ztunnel_connections_denied_total', {
        direction: 'inbound',
        response_flags: 'DENY',
      }),
    ).toBeGreaterThanOrEqual(1);
    const denied = access(b).find((l) => l['src.identity'] === INTRUDER);
    expect(denied?.msg).toBe('connection denied');
    expect(String(denied?.error)).toContain('echo/no-intruder');
  });

  it('refuses a client whose address is no local workload, with the reason', async () => {
    const err = await h.socks(a.z, '127.0.0.1', h.ip(11), 8080).catch((e: unknown) => e);
    expect((err as Socks5Refusal).reply).toBe(0x02);
    const line = access(a).find(
      (l) => l.msg === 'connection denied' && String(l.error).includes('127.0.0.1'),
    );
    expect(String(line?.error)).toContain('bind the client to its workload');
  });

  it('passes an unknown destination through as plain TCP', async () => {
    const outside = await h.app('127.0.0.1', 0, 'outside');
    const port = (outside.address() as { port: number }).port;
    const s = await h.socks(a.z, h.ip(1), '127.0.0.1', port);
    expect(await readLine(s)).toBe('outside');
    expect(await echo(s, 'plain')).toBe('plain');
    s.end();
    await closed(s);
    await expect
      .poll(() => access(a).find((l) => l['dst.addr'] === `127.0.0.1:${port}`))
      .toMatchObject({ protocol: 'TCP', connection_security_policy: 'none', response_flags: '-' });
  });

  it('allows plaintext inbound in PERMISSIVE and refuses it in STRICT', async () => {
    const { connect } = await import('node:net');
    const open = connect({ host: h.ip(22), port: h.plaintextPort });
    expect(await readLine(open)).toBe('open');
    open.destroy();
    const strict = connect({ host: h.ip(21), port: h.plaintextPort });
    strict.on('error', () => {});
    await closed(strict);
    await expect
      .poll(() => access(b).find((l) => l['dst.workload'] === 'vault'))
      .toMatchObject({
        msg: 'connection denied',
        connection_security_policy: 'none',
        response_flags: 'DENY',
      });
    expect(String(access(b).find((l) => l['dst.workload'] === 'vault')?.error)).toContain('STRICT');
  });

  it('HBONE to the STRICT namespace still works', async () => {
    const s = await h.socks(a.z, h.ip(1), h.ip(101), 80);
    expect(await readLine(s)).toBe('vault');
    s.destroy();
  });
});
