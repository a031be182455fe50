import { describe, expect, it } from 'vitest';
import { MeshStateConflictError } from '@ambit/core/errors';
import type { PodIp } from '@ambit/core/mesh/ip';
import type { ServiceKey, Workload, WorkloadUid } from '@ambit/core/mesh/types';
import { authorizationFromSpec } from '@ambit/core/policy/from-spec';
import { parseLocalConfig } from '../local-config.ts';
import { decodeServerMessage } from '@ambit/core/mesh/stream-protocol';
import { MeshState, stateUpdateFromMessage, type StateChange } from './mesh-state.ts';

const resources = parseLocalConfig(`
workloads:
  - { name: a, namespace: ns, node: n1, ip: 10.0.0.1, labels: { app: a } }
  - { name: b, namespace: ns, node: n1, ip: 10.0.0.2, labels: { app: b } }
  - { name: c, namespace: other, node: n2, ips: [10.0.0.3, "fd00::3"], labels: { app: a } }
services:
  - { name: a, namespace: ns, vip: 10.96.0.1, ports: [80], selector: { app: a } }
  - { name: b, namespace: ns, vip: 10.96.0.2, ports: [80], endpoints: [b] }
policies:
  - { apiVersion: ambit.dev/v1alpha1, kind: AuthorizationPolicy, metadata: { name: ns-wide, namespace: ns }, spec: { action: DENY, rules: [{}] } }
  - { apiVersion: ambit.dev/v1alpha1, kind: AuthorizationPolicy, metadata: { name: only-a, namespace: ns }, spec: { selector: { matchLabels: { app: a } } } }
  - { apiVersion: ambit.dev/v1alpha1, kind: AuthorizationPolicy, metadata: { name: mesh-wide, namespace: ambit-system }, spec: { action: AUDIT, rules: [{}] } }
`);
const wl = (name: string): Workload => {
  const w = resources.workloads.find((x) => x.name === name);
  if (w === undefined) throw new Error(name);
  return w;
};

function loaded(): MeshState {
  const s = new MeshState();
  s.replace(resources);
  return s;
}

describe('MeshState', () => {
  it('starts empty with the default mesh settings', () => {
    const s = new MeshState();
    expect(s.current.generation).toBe(0);
    expect(s.current.mesh.trustDomain).toBe('cluster.local');
    expect(s.current.lookup('10.0.0.1')).toBeUndefined();
  });

  it('indexes workloads by IP and uid, services by VIP and hostname, endpoints and policies', () => {
    const snap = loaded().current;
    expect(snap.lookup('10.0.0.1')).toMatchObject({ kind: 'workload', workload: { name: 'a' } });
    expect(snap.lookup('fd00::3')).toMatchObject({ kind: 'workload', workload: { name: 'c' } });
    expect(snap.lookup('10.96.0.1')).toMatchObject({ kind: 'service', service: { name: 'a' } });
    expect(snap.workloads.get('ns/b' as WorkloadUid)?.name).toBe('b');
    expect(snap.workloadsByNode.get('n1')?.map((w) => w.name)).toEqual(['a', 'b']);
    expect(snap.servicesByHostname.get('b.ns.svc.cluster.local')?.name).toBe('b');
    // The selector is namespaced: c (in "other") has app=a but is no endpoint of ns/a.
    expect(snap.endpoints.get(`ns/a` as ServiceKey)?.map((e) => e.workload.name)).toEqual(['a']);
    expect(snap.servicesByWorkload.get('ns/a' as WorkloadUid)?.map((s) => s.name)).toEqual(['a']);
    expect(snap.policiesFor(wl('a')).map((p) => p.name)).toEqual([
      'ns-wide',
      'only-a',
      'mesh-wide',
    ]);
    expect(snap.policiesFor(wl('b')).map((p) => p.name)).toEqual(['ns-wide', 'mesh-wide']);
    expect(snap.policiesFor(wl('c')).map((p) => p.name)).toEqual(['mesh-wide']);
  });

  it('applies a delta: add, update by key (old IP dropped from the index), remove', () => {
    const s = loaded();
    const movedA: Workload = { ...wl('a'), ips: ['10.0.0.9' as PodIp] };
    const d: Workload = {
      ...wl('b'),
      uid: 'ns/d' as WorkloadUid,
      name: 'd',
      ips: ['10.0.0.4' as PodIp],
    };
    s.apply({
      type: 'Workload',
      full: false,
      resources: [movedA, d],
      removed: ['ns/b', 'no-such-uid'],
    });
    const snap = s.current;
    expect(snap.lookup('10.0.0.1')).toBeUndefined();
    expect(snap.lookup('10.0.0.9')).toMatchObject({ kind: 'workload', workload: { name: 'a' } });
    expect(snap.lookup('10.0.0.4')).toMatchObject({ kind: 'workload', workload: { name: 'd' } });
    expect(snap.lookup('10.0.0.2')).toBeUndefined();
    // Service b's endpoint is gone with its workload; service a follows a's new IP.
    expect(snap.endpoints.get('ns/b' as ServiceKey)).toEqual([]);
    expect(snap.endpoints.get('ns/a' as ServiceKey)?.[0]?.workload.ips).toEqual(['10.0.0.9']);
    expect(snap.services.size).toBe(2);
  });

  it('resolves an endpoint whose workload arrives after its service', () => {
    const s = new MeshState();
    s.apply({ type: 'Service', full: true, resources: resources.services, removed: [] });
    expect(s.current.endpoints.get('ns/b' as ServiceKey)).toEqual([]);
    s.apply({ type: 'Workload', full: true, resources: resources.workloads, removed: [] });
    expect(s.current.endpoints.get('ns/b' as ServiceKey)?.map((e) => e.workload.name)).toEqual([
      'b',
    ]);
  });

  it('a full update replaces every resource of its type and no other', () => {
    const s = loaded();
    s.apply({ type: 'Workload', full: true, resources: [wl('c')], removed: [] });
    expect([...s.current.workloads.values()].map((w) => w.name)).toEqual(['c']);
    expect(s.current.services.size).toBe(2);
    expect(s.current.policies.size).toBe(3);
  });

  it('updates and removes policies and the mesh config', () => {
    const s = loaded();
    const p = authorizationFromSpec({
      apiVersion: 'ambit.dev/v1alpha1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ns-wide', namespace: 'ns' },
      spec: { action: 'ALLOW' },
    });
    s.apply({
      type: 'Authorization',
      full: false,
      resources: [p],
      removed: ['ambit-system/mesh-wide'],
    });
    expect(s.current.policiesFor(wl('b'))).toEqual([p]);
    s.apply({
      type: 'MeshConfig',
      full: false,
      resources: [
        { trustDomain: 'example.org', mtlsMode: 'STRICT', namespaceMtlsModes: {}, rootsPem: '' },
      ],
      removed: [],
    });
    expect(s.current.mesh.mtlsMode).toBe('STRICT');
    s.apply({ type: 'MeshConfig', full: false, resources: [], removed: ['mesh'] });
    expect(s.current.mesh.mtlsMode).toBe('PERMISSIVE');
  });

  it('refuses a conflicting update whole, keeps the old snapshot and tells no one', () => {
    const s = loaded();
    const before = s.current;
    const changes: StateChange[] = [];
    s.onChange((c) => changes.push(c));
    const thief: Workload = {
      ...wl('b'),
      uid: 'ns/thief' as WorkloadUid,
      name: 'thief',
      ips: ['10.0.0.1' as PodIp],
    };
    const fine: Workload = {
      ...wl('b'),
      uid: 'ns/fine' as WorkloadUid,
      name: 'fine',
      ips: ['10.0.0.5' as PodIp],
    };
    let caught: unknown;
    try {
      s.apply({ type: 'Workload', full: false, resources: [fine, thief], removed: [] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MeshStateConflictError);
    expect((caught as Error).message).toBe('workloads ns/a and ns/thief both claim IP 10.0.0.1');
    expect(s.current).toBe(before);
    expect(s.current.lookup('10.0.0.5')).toBeUndefined();
    expect(changes).toEqual([]);
    expect(() =>
      s.apply({
        type: 'Service',
        full: false,
        resources: [{ ...resources.services[1]!, vips: resources.services[0]!.vips }],
        removed: [],
      }),
    ).toThrow(/services ns\/a and ns\/b both claim VIP 10\.96\.0\.1/);
    expect(() =>
      s.apply({ type: 'Workload', full: false, resources: [fine, fine], removed: [] }),
    ).toThrow(/ns\/fine twice/);
  });

  it('swaps atomically: a held snapshot keeps answering as before; listeners see previous and current', () => {
    const s = loaded();
    const held = s.current;
    const changes: StateChange[] = [];
    const off = s.onChange((c) => changes.push(c));
    s.apply({ type: 'Workload', full: false, resources: [], removed: ['ns/a'] });
    expect(held.lookup('10.0.0.1')).toMatchObject({ kind: 'workload' });
    expect(s.current.lookup('10.0.0.1')).toBeUndefined();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ previous: held, current: s.current, cause: 'Workload' });
    expect(s.current.generation).toBe(held.generation + 1);
    off();
    s.replace(resources);
    expect(changes).toHaveLength(1);
  });

  it('a throwing listener does not stop the others or undo the update', () => {
    const errors: unknown[] = [];
    const s = new MeshState({ onListenerError: (e) => errors.push(e) });
    let seen = 0;
    s.onChange(() => {
      throw new Error('listener bug');
    });
    s.onChange(() => seen++);
    s.replace(resources);
    expect(seen).toBe(1);
    expect(errors).toHaveLength(1);
    expect(s.current.workloads.size).toBe(3);
  });

  it('takes config-stream messages: a first full snapshot, then deltas; Routes are not its business', () => {
    const s = new MeshState();
    const line = (removed: string[], ip?: string) =>
      JSON.stringify({
        schema: 1,
        type: 'Workload',
        version: 'v1',
        nonce: 'n',
        resources: ip === undefined ? [] : [{ ...wl('a'), uid: `uid-${ip}`, ips: [ip] }],
        removed,
      });
    const u1 = stateUpdateFromMessage(decodeServerMessage(line([], '10.1.0.1')), true);
    s.apply(u1!);
    s.apply(stateUpdateFromMessage(decodeServerMessage(line([], '10.1.0.2')), false)!);
    expect([...s.current.workloads.keys()]).toEqual(['uid-10.1.0.1', 'uid-10.1.0.2']);
    s.apply(stateUpdateFromMessage(decodeServerMessage(line(['uid-10.1.0.1'])), false)!);
    expect([...s.current.workloads.keys()]).toEqual(['uid-10.1.0.2']);
    const route = decodeServerMessage(
      '{"schema":1,"type":"Route","version":"1","nonce":"r","resources":[{"name":"r","namespace":"ns"}],"removed":[]}',
    );
    expect(stateUpdateFromMessage(route, true)).toBeUndefined();
  });
});
