import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IpAddr } from '@ambit/core/mesh/ip';
import type { Workload } from '@ambit/core/mesh/types';
import { parseLocalConfig } from '../local-config.ts';
import { buildSnapshot } from '../state/mesh-snapshot.ts';
import { planOutbound, type OutboundOptions } from './outbound-plan.ts';

const state = buildSnapshot(
  parseLocalConfig(
    readFileSync(join(import.meta.dirname, 'testdata/mesh.yaml'), 'utf8'),
    'mesh.yaml',
  ),
  1,
);
const byName = (name: string): Workload => {
  const w = [...state.workloads.values()].find((x) => x.name === name);
  if (w === undefined) throw new Error(`no workload ${name} in the fixture`);
  return w;
};
const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
/** A random source that returns `values` in turn. */
const seq = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
};

interface Case {
  name: string;
  /** Source workload name; its node is the ztunnel's node unless `node` says otherwise. */
  from: string;
  to: string;
  node?: string;
  opts?: Partial<OutboundOptions>;
  want: Record<string, unknown>;
}

const cases: Case[] = [
  {
    name: 'service VIP → same-node endpoint over HBONE, service port mapped to targetPort',
    from: 'sleep',
    to: '127.0.102.1:9080',
    want: {
      kind: 'hbone',
      sourceIdentity: id('default', 'sleep'),
      hboneAddress: { host: '127.0.2.1', port: 15008 },
      authority: '127.0.2.1:8080',
      destination: { host: '127.0.2.1', port: 8080 },
      expectedPeers: [id('bookinfo', 'reviews')],
      endpoint: { name: 'reviews-v1' },
      service: { name: 'reviews' },
      waypoint: undefined,
    },
  },
  {
    name: 'same node wins for a source on another node too',
    from: 'sleep-b',
    to: '127.0.102.1:9080',
    want: { kind: 'hbone', endpoint: { name: 'reviews-v2' }, authority: '127.0.2.2:8080' },
  },
  {
    name: 'no endpoint on the node → same zone (eu-1) before same region or elsewhere',
    from: 'sleep-d',
    to: '127.0.102.1:9080',
    opts: { random: seq(0.99, 0.99) },
    want: { kind: 'hbone', endpoint: { name: 'reviews-v1' } },
  },
  {
    name: 'no endpoint in the zone → same region (eu) never the other region, whatever the dice say (low)',
    from: 'sleep-e',
    to: '127.0.102.1:9080',
    opts: { random: seq(0, 0) },
    want: { kind: 'hbone', endpoint: { name: 'reviews-v1' } },
  },
  {
    name: 'no endpoint in the zone → same region (eu) never the other region, whatever the dice say (high)',
    from: 'sleep-e',
    to: '127.0.102.1:9080',
    opts: { random: seq(0.99, 0) },
    want: { kind: 'hbone', endpoint: { name: 'reviews-v2' } },
  },
  {
    name: 'an unhealthy same-node endpoint is skipped for a healthy remote one',
    from: 'sleep',
    to: '127.0.103.1:9080',
    want: { kind: 'hbone', endpoint: { name: 'ratings-v2' }, authority: '127.0.3.2:9080' },
  },
  {
    name: 'a service without endpoints is denied with a clear reason',
    from: 'sleep',
    to: '127.0.105.1:80',
    want: {
      kind: 'deny',
      code: 'NO_HEALTHY_ENDPOINT',
      reason: 'service bookinfo/nowhere (127.0.105.1:80): it has no endpoints',
    },
  },
  {
    name: 'a VIP on a port the service lacks is denied',
    from: 'sleep',
    to: '127.0.102.1:8080',
    want: {
      kind: 'deny',
      code: 'NO_SERVICE_PORT',
      reason: 'service bookinfo/reviews has no port 8080 (ports: 9080)',
    },
  },
  {
    name: 'service VIP → endpoint outside the mesh: passthrough to pod IP and targetPort',
    from: 'sleep',
    to: '127.0.104.1:9080',
    want: {
      kind: 'passthrough',
      destination: { host: '127.0.4.1', port: 8000 },
      endpoint: { name: 'details-v1' },
      service: { name: 'details' },
    },
  },
  {
    name: 'pod IP in the mesh → HBONE to it, original port kept',
    from: 'sleep',
    to: '127.0.2.3:8080',
    want: {
      kind: 'hbone',
      hboneAddress: { host: '127.0.2.3', port: 15008 },
      authority: '127.0.2.3:8080',
      expectedPeers: [id('bookinfo', 'reviews')],
      service: undefined,
    },
  },
  {
    name: 'pod IP outside the mesh → passthrough to the original destination',
    from: 'sleep',
    to: '127.0.4.1:8000',
    want: {
      kind: 'passthrough',
      destination: { host: '127.0.4.1', port: 8000 },
      endpoint: { name: 'details-v1' },
    },
  },
  {
    name: 'an address the mesh does not know → passthrough',
    from: 'sleep',
    to: '127.0.200.1:443',
    want: {
      kind: 'passthrough',
      destination: { host: '127.0.200.1', port: 443 },
      endpoint: undefined,
      reason: '127.0.200.1 is not a mesh address',
    },
  },
  {
    name: 'service with a waypoint → HBONE to a waypoint pod, :authority the original VIP:port, expecting the waypoint',
    from: 'sleep',
    to: '127.0.106.1:80',
    want: {
      kind: 'hbone',
      hboneAddress: { host: '127.0.9.1', port: 15008 },
      authority: '127.0.106.1:80',
      destination: { host: '127.0.106.1', port: 80 },
      expectedPeers: [id('bookinfo', 'bookinfo-waypoint')],
      endpoint: undefined,
      waypoint: { name: 'bookinfo-waypoint' },
      waypointEndpoint: { name: 'bookinfo-waypoint-0' },
      service: { name: 'cart' },
    },
  },
  {
    name: 'the waypoint itself reaches the service directly (no loop)',
    from: 'bookinfo-waypoint-0',
    to: '127.0.106.1:80',
    node: 'node-c',
    want: {
      kind: 'hbone',
      hboneAddress: { host: '127.0.8.1', port: 15008 },
      authority: '127.0.8.1:8080',
      waypoint: undefined,
    },
  },
  {
    name: 'pod with a workload waypoint at a fixed address and port → HBONE there, :authority the pod ip:port',
    from: 'sleep',
    to: '127.0.7.1:9080',
    want: {
      kind: 'hbone',
      hboneAddress: { host: '127.0.9.9', port: 15009 },
      authority: '127.0.7.1:9080',
      expectedPeers: [id('bookinfo', 'edge')],
      waypoint: { name: 'edge-waypoint' },
      waypointEndpoint: undefined,
    },
  },
  {
    name: "service traffic ignores the endpoint's workload waypoint (only the service's counts)",
    from: 'sleep',
    to: '127.0.107.2:9080',
    want: { kind: 'hbone', hboneAddress: { host: '127.0.7.1', port: 15008 }, waypoint: undefined },
  },
  {
    name: 'a waypoint with no healthy pod → deny, naming the waypoint',
    from: 'sleep',
    to: '127.0.111.1:80',
    want: {
      kind: 'deny',
      code: 'NO_HEALTHY_WAYPOINT',
      reason: expect.stringMatching(/waypoint bookinfo\/down-waypoint/),
    },
  },
  {
    name: 'per-endpoint target port overrides the service targetPort',
    from: 'sleep',
    to: '127.0.107.1:80',
    want: {
      kind: 'hbone',
      authority: '127.0.11.1:9090',
      destination: { host: '127.0.11.1', port: 9090 },
    },
  },
  {
    name: 'power of two choices: the less loaded of the two picks',
    from: 'sleep',
    to: '127.0.108.1:80',
    opts: {
      random: seq(0, 0),
      activeConnections: (w) => ({ 'lb-1': 5, 'lb-2': 1, 'lb-3': 0 })[w.name] ?? 0,
    },
    want: { kind: 'hbone', endpoint: { name: 'lb-2' } },
  },
  {
    name: 'power of two choices: the unpicked idle endpoint is not chosen, ties go to the first pick',
    from: 'sleep',
    to: '127.0.108.1:80',
    opts: { random: seq(0.99, 0.99), activeConnections: (w) => (w.name === 'lb-1' ? 0 : 3) },
    want: { kind: 'hbone', endpoint: { name: 'lb-3' } },
  },
  {
    name: 'a different HBONE port applies to every pod dial',
    from: 'sleep',
    to: '127.0.102.1:9080',
    opts: { hbonePort: 25008 },
    want: {
      kind: 'hbone',
      hboneAddress: { host: '127.0.2.1', port: 25008 },
      authority: '127.0.2.1:8080',
    },
  },
  {
    name: "a workload of another node is not this ztunnel's to speak for",
    from: 'sleep-b',
    to: '127.0.102.1:9080',
    node: 'node-a',
    want: { kind: 'deny', code: 'SOURCE_NOT_LOCAL' },
  },
  {
    name: 'a source outside the mesh gets no identity',
    from: 'legacy-client',
    to: '127.0.102.1:9080',
    want: { kind: 'deny', code: 'SOURCE_NOT_IN_MESH' },
  },
];

describe('planOutbound', () => {
  it.each(cases)('$name', (c) => {
    const source = byName(c.from);
    const [ip = '', port = '0'] = c.to.split(':');
    const plan = planOutbound(
      state,
      { source, destination: { ip: ip as IpAddr, port: Number(port) } },
      { nodeName: c.node ?? source.node, random: seq(0.5), ...c.opts },
    );
    expect(plan).toMatchObject(c.want);
    expect(plan.source).toBe(source);
    expect(plan.original).toEqual({ ip, port: Number(port) });
  });

  it('spreads new connections over equally loaded endpoints with the default random source', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const plan = planOutbound(
        state,
        { source: byName('sleep'), destination: { ip: '127.0.108.1' as IpAddr, port: 80 } },
        { nodeName: 'node-a' },
      );
      if (plan.kind === 'hbone' && plan.endpoint !== undefined) seen.add(plan.endpoint.name);
    }
    expect([...seen].sort()).toEqual(['lb-1', 'lb-2', 'lb-3']);
  });
});
