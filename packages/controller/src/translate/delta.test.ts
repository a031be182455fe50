import { describe, expect, it } from 'vitest';
import { emptyClusterState } from './cluster-state.ts';
import { computeDelta, deltaSize } from './delta.ts';
import { translateCluster } from './translate-cluster.ts';

describe('computeDelta', () => {
  const state = {
    ...emptyClusterState(),
    namespaces: [{ metadata: { name: 'shop' } }],
    pods: [
      {
        metadata: { name: 'a', namespace: 'shop', uid: 'uid-a' },
        spec: { nodeName: 'n', containers: [] },
        status: { phase: 'Running', podIP: '10.0.0.1' },
      },
    ],
  };

  it('with nothing sent before, everything is new (the snapshot)', () => {
    const t = translateCluster(state);
    const d = computeDelta(undefined, t.resources);
    expect(d.Workload.changed.map((w) => w.uid)).toEqual(['uid-a']);
    expect(d.MeshConfig.changed).toHaveLength(1);
    expect(deltaSize(d)).toBe(2);
  });

  it('ignores object key order: equal content is no change', () => {
    const t = translateCluster(state);
    const [w] = t.resources.Workload;
    if (w === undefined) throw new Error('no workload');
    const reordered = Object.fromEntries(Object.entries(w).reverse()) as typeof w;
    const d = computeDelta(t.resources, { ...t.resources, Workload: [reordered] });
    expect(deltaSize(d)).toBe(0);
  });
});
