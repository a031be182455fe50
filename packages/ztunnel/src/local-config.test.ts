import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalConfigError } from '@ambit/core/errors';
import { parseLocalConfig } from './local-config.ts';

const base = `
nodes: [{ name: node-a, region: eu, zone: eu-1 }]
workloads:
  - { name: a, namespace: ns, serviceAccount: sa-a, node: node-a, ip: 127.0.1.1, labels: { app: a, version: v2 } }
  - { name: b, namespace: ns, node: node-a, ip: 127.0.1.2, labels: { app: b } }
services:
  - { name: a, namespace: ns, vip: 127.0.100.1, ports: [80], selector: { app: a } }
`;

function failure(text: string): string {
  try {
    parseLocalConfig(text, 'mesh.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(LocalConfigError);
    expect((err as LocalConfigError).code).toBe('AMBIT_LOCAL_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('parseLocalConfig', () => {
  it('produces mesh resources with defaults filled in', () => {
    const r = parseLocalConfig(base);
    expect(r.mesh).toEqual({
      trustDomain: 'cluster.local',
      mtlsMode: 'PERMISSIVE',
      namespaceMtlsModes: {},
      rootsPem: '',
    });
    expect(r.workloads[0]).toEqual({
      uid: 'ns/a',
      name: 'a',
      namespace: 'ns',
      serviceAccount: 'sa-a',
      node: 'node-a',
      ips: ['127.0.1.1'],
      protocol: 'HBONE',
      labels: { app: 'a', version: 'v2' },
      workloadName: 'a',
      canonicalName: 'a',
      canonicalRevision: 'v2',
      locality: { region: 'eu', zone: 'eu-1' },
      healthy: true,
    });
    expect(r.workloads[1]?.serviceAccount).toBe('default');
    expect(r.services[0]).toEqual({
      name: 'a',
      namespace: 'ns',
      hostname: 'a.ns.svc.cluster.local',
      vips: ['127.0.100.1'],
      ports: [{ port: 80, targetPort: 80 }],
      endpoints: [{ workloadUid: 'ns/a' }],
    });
  });

  it('accepts the plan-test fixture and the example in docs/ztunnel-config.md', () => {
    const fixture = readFileSync(join(import.meta.dirname, 'proxy/testdata/mesh.yaml'), 'utf8');
    expect(parseLocalConfig(fixture).workloads.length).toBeGreaterThan(10);
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/ztunnel-config.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const r = parseLocalConfig(example ?? '', 'docs example');
    expect(r.policies.length).toBeGreaterThan(0);
    expect(r.services.some((s) => s.waypoint !== undefined)).toBe(true);
  });

  it.each([
    [
      'a bad IP',
      base.replace('127.0.1.2', '127.0.0.300'),
      'mesh.yaml: workloads[1].ip: "127.0.0.300" is not an IP address',
    ],
    [
      'a duplicate workload IP',
      base.replace('127.0.1.2', '127.0.1.1'),
      'workloads[1].ip: "127.0.1.1" is already the IP of workloads[0] (ns/a)',
    ],
    [
      'a duplicate uid',
      base.replace('name: b, namespace: ns,', 'name: b, uid: ns/a, namespace: ns,'),
      'workloads[1].uid: uid "ns/a" is already used by workloads[0]',
    ],
    [
      'a VIP that is a workload IP',
      base.replace('vip: 127.0.100.1', 'vip: 127.0.1.2'),
      'services[0].vip: "127.0.1.2" is already the address of workloads[1] (ns/b)',
    ],
    [
      'a duplicate VIP',
      `${base}  - { name: c, namespace: ns, vip: 127.0.100.1, ports: [80] }\n`,
      'services[1].vip: "127.0.100.1" is already the address of services[0] (ns/a)',
    ],
    [
      'an unknown field (typo)',
      base.replace('serviceAccount: sa-a', 'serviceAcount: sa-a'),
      'workloads[0].serviceAcount: unknown field',
    ],
    [
      'an unknown node',
      base
        .replace('ip: 127.0.1.2', 'ip: 127.0.1.2, node: node-z')
        .replace('node: node-a, ip: 127.0.1.2', 'ip: 127.0.1.2'),
      'workloads[1].node: no node "node-z" in nodes',
    ],
    [
      'a bad protocol',
      base.replace('ip: 127.0.1.2', 'ip: 127.0.1.2, protocol: UDP'),
      'workloads[1].protocol: "UDP" is not one of HBONE, TCP',
    ],
    [
      'a bad port',
      base.replace('ports: [80]', 'ports: [0]'),
      'services[0].ports[0]: 0 is not a port (1..65535)',
    ],
    [
      'an unknown endpoint',
      base.replace('selector: { app: a }', 'endpoints: [zz]'),
      'services[0].endpoints[0].workload: no workload "zz" in namespace ns',
    ],
    [
      'an unknown waypoint',
      base.replace('selector: { app: a }', 'selector: { app: a }, waypoint: wp'),
      'services[0].waypoint: no waypoint ns/wp in waypoints',
    ],
    [
      'a bad mTLS mode',
      `mesh: { mtls: SOMETIMES }\n`,
      'mesh.mtls: "SOMETIMES" is not one of PERMISSIVE, STRICT',
    ],
    [
      'a bad trust domain',
      `mesh: { trustDomain: "Bad Domain" }\n`,
      'mesh.trustDomain: "Bad Domain" is not a SPIFFE trust domain',
    ],
    [
      'an invalid policy',
      `policies:\n  - { apiVersion: ambit.dev/v1alpha1, kind: AuthorizationPolicy, metadata: { name: p, namespace: ns }, spec: { action: MAYBE } }\n`,
      'policies[0]: spec.action: "MAYBE" is not one of ALLOW, DENY, AUDIT',
    ],
    ['an empty file (an editor mid-save)', '\n# nothing yet\n', 'mesh.yaml: the file is empty'],
    ['broken YAML', 'workloads: [ {name: a', 'mesh.yaml: not valid YAML'],
    ['a top-level list', '- a\n- b\n', 'mesh.yaml: ["a","b"] is not an object'],
  ])('refuses %s, naming the field', (_name, text, message) => {
    expect(failure(text)).toContain(message);
  });
});
