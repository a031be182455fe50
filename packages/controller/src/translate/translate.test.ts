// Table tests: every testdata/*.yaml file holds `base` objects and `cases`. A case adds (or
// replaces, by kind/namespace/name) objects with `add`, removes some with `drop`, translates,
// and checks `expect`:
//   <ResourceType>: the full list of that type, each entry matched as a subset
//                   (`$absent: [field]` asserts fields that must not be there);
//   statuses: reports matched by kind/namespace/name, their conditions as a subset list;
//   warnings: substrings each found in some warning ("<object>: <message>"); [] means none.
// A case with `then` changes the objects again and checks the delta between the two translations:
//   then: { add, drop, delta: { <ResourceType>: { changed: [keys], removed: [keys] } }, deltaSize }
// (types left out of `delta` must not change).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCE_TYPES, resourceKey, type ResourceType } from '@ambit/core/mesh/stream-protocol';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { emptyClusterState, type ClusterState, type Meta } from './cluster-state.ts';
import { computeDelta, deltaSize } from './delta.ts';
import { translateCluster } from './translate-cluster.ts';
import type { Translation } from './translation.ts';

type Obj = { kind?: string; metadata?: Meta } & Record<string, unknown>;

interface Change {
  add?: Obj[];
  drop?: string[];
}

interface Case extends Change {
  name: string;
  options?: { trustDomain?: string; clusterDomain?: string; rootsPem?: string };
  expect: Record<string, unknown>;
  then?: Change & {
    delta: Partial<Record<ResourceType, { changed?: string[]; removed?: string[] }>>;
    deltaSize?: number;
  };
}

const FIELD: Record<string, keyof ClusterState> = {
  Namespace: 'namespaces',
  Pod: 'pods',
  Service: 'services',
  EndpointSlice: 'endpointSlices',
  Node: 'nodes',
  Waypoint: 'waypoints',
  AuthorizationPolicy: 'authorizationPolicies',
  PeerAuthentication: 'peerAuthentications',
  HTTPRoute: 'httpRoutes',
};

const idOf = (o: Obj): string =>
  [o.kind, o.metadata?.namespace, o.metadata?.name].filter((x) => x !== undefined).join('/');

function apply(objects: Obj[], change: Change): Obj[] {
  const drop = new Set(change.drop ?? []);
  for (const id of drop) {
    if (!objects.some((o) => idOf(o) === id)) throw new Error(`drop: no object ${id}`);
  }
  const out = objects.filter((o) => !drop.has(idOf(o)));
  for (const o of change.add ?? []) {
    const i = out.findIndex((x) => idOf(x) === idOf(o));
    if (i >= 0) out[i] = o;
    else out.push(o);
  }
  return out;
}

function stateOf(objects: Obj[]): ClusterState {
  const s = emptyClusterState() as unknown as Record<string, Obj[]>;
  for (const o of objects) {
    const field = FIELD[o.kind ?? ''];
    if (field === undefined) throw new Error(`fixture object of unknown kind ${o.kind}`);
    s[field]?.push(structuredClone(o));
  }
  return s as unknown as ClusterState;
}

/** Removes `$absent` keys (at any depth) from `expected`, asserting those fields absent in `actual`. */
function stripAbsent(expected: unknown, actual: unknown, at: string): unknown {
  if (Array.isArray(expected)) {
    const a = Array.isArray(actual) ? (actual as unknown[]) : [];
    return expected.map((e, i) => stripAbsent(e, a[i], `${at}[${i}]`));
  }
  if (typeof expected !== 'object' || expected === null) return expected;
  const act = (typeof actual === 'object' && actual !== null ? actual : {}) as Record<
    string,
    unknown
  >;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(expected)) {
    if (k === '$absent') {
      for (const f of v as string[]) expect(act[f], `${at}.${f} must be absent`).toBeUndefined();
    } else out[k] = stripAbsent(v, act[k], `${at}.${k}`);
  }
  return out;
}

function matchEntry(actual: unknown, expected: Record<string, unknown>, at: string): void {
  expect(actual, at).toMatchObject(stripAbsent(expected, actual, at) as Record<string, unknown>);
}

function check(t: Translation, exp: Record<string, unknown>): void {
  for (const type of RESOURCE_TYPES) {
    const want = exp[type] as Record<string, unknown>[] | undefined;
    if (want === undefined) continue;
    const got = t.resources[type] as readonly unknown[];
    expect(
      got.map((r) => resourceKey(type, r as never)),
      `${type}: keys`,
    ).toHaveLength(want.length);
    want.forEach((w, i) => matchEntry(got[i], w, `${type}[${i}]`));
  }
  for (const want of (exp.statuses as Record<string, unknown>[] | undefined) ?? []) {
    const got = t.statuses.find(
      (s) => s.kind === want.kind && s.namespace === want.namespace && s.name === want.name,
    );
    expect(
      got,
      `status of ${String(want.kind)} ${String(want.namespace)}/${String(want.name)}`,
    ).toBeDefined();
    expect(got).toMatchObject(want);
    expect(got?.conditions).toHaveLength((want.conditions as unknown[]).length);
  }
  if (exp.noStatusFor !== undefined) {
    for (const id of exp.noStatusFor as string[]) {
      expect(t.statuses.map((s) => `${s.kind}/${s.namespace}/${s.name}`)).not.toContain(id);
    }
  }
  const warnings = exp.warnings as string[] | undefined;
  if (warnings !== undefined) {
    const lines = t.warnings.map((w) => `${w.object}: ${w.message}`);
    if (warnings.length === 0) expect(lines).toEqual([]);
    for (const w of warnings) expect(lines.join('\n')).toContain(w);
  }
}

const dir = join(import.meta.dirname, 'testdata');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

it('has at least 30 fixture cases', () => {
  const n = files.reduce(
    (sum, f) => sum + (parse(readFileSync(join(dir, f), 'utf8')) as { cases: Case[] }).cases.length,
    0,
  );
  expect(n).toBeGreaterThanOrEqual(30);
});

for (const file of files) {
  const doc = parse(readFileSync(join(dir, file), 'utf8')) as { base?: Obj[]; cases: Case[] };
  describe(file, () => {
    for (const c of doc.cases) {
      it(c.name, () => {
        const objects = apply(doc.base ?? [], c);
        const first = translateCluster(stateOf(objects), c.options);
        check(first, c.expect);
        // Same input, same output: the basis of small deltas.
        expect(translateCluster(stateOf(objects), c.options)).toEqual(first);
        if (c.then === undefined) return;
        const second = translateCluster(stateOf(apply(objects, c.then)), c.options);
        const delta = computeDelta(first.resources, second.resources);
        for (const type of RESOURCE_TYPES) {
          const want = c.then.delta[type] ?? {};
          expect(
            delta[type].changed.map((r) => resourceKey(type, r as never)),
            `${type} changed`,
          ).toEqual(want.changed ?? []);
          expect(delta[type].removed, `${type} removed`).toEqual(want.removed ?? []);
        }
        if (c.then.deltaSize !== undefined) expect(deltaSize(delta)).toBe(c.then.deltaSize);
      });
    }
  });
}
