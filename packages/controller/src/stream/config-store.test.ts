// The versioned store: versions move only on real change, deltas come from the change log, and a
// bad publish changes nothing.

import { describe, expect, it } from 'vitest';
import type { Workload } from '@ambit/core/mesh/types';
import { ConfigStore } from './config-store.ts';
import { MESH, workload } from './test-harness.ts';

const change = (...ws: Workload[]) => ({
  changed: new Map(ws.map((w) => [w.uid as string, w])),
  removed: new Set<string>(),
});

describe('ConfigStore', () => {
  it('bumps a type version once per publish that changes something', () => {
    const store = new ConfigStore();
    const seen: [string, number][] = [];
    store.onPublish((t, v) => seen.push([t, v]));
    expect(store.replace('Workload', [workload(1), workload(2)])).toBe(1);
    expect(store.publish('Workload', change(workload(1)))).toBe(1); // same JSON: no change
    expect(store.publish('Workload', { changed: new Map(), removed: new Set(['nope']) })).toBe(1);
    expect(store.publish('Workload', change(workload(1, { healthy: false })))).toBe(2);
    expect(store.replace('Workload', [workload(1, { healthy: false })])).toBe(3); // uid-2 gone
    expect(store.size('Workload')).toBe(1);
    expect(store.version('Service')).toBe(0);
    expect(seen).toEqual([
      ['Workload', 1],
      ['Workload', 2],
      ['Workload', 3],
    ]);
    expect(store.changedSince('Workload', 1)).toEqual(new Set(['uid-1', 'uid-2']));
    expect(store.changedSince('Workload', 3)).toEqual(new Set());
  });

  it('is ready once every required type was published, even empty', () => {
    const store = new ConfigStore({ requiredTypes: ['Workload', 'MeshConfig'] });
    expect(store.ready()).toBe(false);
    store.replace('Workload', []);
    expect(store.unsyncedTypes()).toEqual(['MeshConfig']);
    store.replace('MeshConfig', [MESH]);
    expect(store.ready()).toBe(true);
  });

  it('refuses a resource under a key that is not its own, or a key changed and removed, whole', () => {
    const store = new ConfigStore();
    store.replace('Workload', [workload(1)]);
    expect(() =>
      store.publish('Workload', {
        changed: new Map([
          ['uid-2', workload(2)],
          ['uid-9', workload(3)],
        ]),
        removed: new Set(),
      }),
    ).toThrow(expect.objectContaining({ code: 'AMBIT_CONFIG_PUBLISH' }) as Error);
    expect(() =>
      store.publish('Workload', {
        ...change(workload(1, { healthy: false })),
        removed: new Set(['uid-1']),
      }),
    ).toThrow(/both changed and removed/);
    expect(() => store.replace('Workload', [workload(4), workload(4)])).toThrow(/twice/);
    expect(store.version('Workload')).toBe(1);
    expect(store.get('Workload', 'uid-2')).toBeUndefined();
  });

  it('keeps a bounded change log and says when it no longer reaches back', () => {
    const store = new ConfigStore({ minLogKeys: 4 });
    store.replace('Workload', [workload(1), workload(2)]); // v1: 2 keys
    for (let i = 0; i < 5; i++) store.publish('Workload', change(workload(1, { name: `n${i}` })));
    expect(store.version('Workload')).toBe(6);
    expect(store.changedSince('Workload', 5)).toEqual(new Set(['uid-1']));
    expect(store.changedSince('Workload', 0)).toBeUndefined();
    expect(store.publishedAt('Workload', 6)).toBeTypeOf('number');
    expect(store.publishedAt('Workload', 1)).toBeUndefined();
    expect(store.parseWireVersion(store.wireVersion(6))).toBe(6);
    expect(store.parseWireVersion('other-6')).toBeUndefined();
  });
});
