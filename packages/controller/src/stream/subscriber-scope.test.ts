// Which resources each kind of subscriber gets, and whom a subscribe may name.

import { describe, expect, it } from 'vitest';
import {
  STREAM_SCHEMA,
  type ResourceType,
  type SubscribeMessage,
} from '@ambit/core/mesh/stream-protocol';
import { authorization, workload } from './test-harness.ts';
import { scopeFor, subscribeMismatch, type SubscriberIdentity } from './subscriber-scope.ts';

const ztunnel: SubscriberIdentity = { kind: 'ztunnel', node: 'node-a' };
const waypoint: SubscriberIdentity = { kind: 'waypoint', namespace: 'shop', name: 'wp' };
const targeted = authorization('shop', 'via-waypoint', {
  kind: 'targetRefs',
  targetRefs: [{ kind: 'Waypoint', name: 'wp' }],
});

const cases: [string, SubscriberIdentity, ResourceType, unknown, boolean][] = [
  ['ztunnel: a workload on another node', ztunnel, 'Workload', workload(3), true],
  [
    'ztunnel: a namespace policy anywhere',
    ztunnel,
    'Authorization',
    authorization('other', 'p'),
    true,
  ],
  [
    'ztunnel: a mesh-wide policy',
    ztunnel,
    'Authorization',
    authorization('ambit-system', 'p', { kind: 'mesh' }),
    true,
  ],
  ['ztunnel: a waypoint-bound policy', ztunnel, 'Authorization', targeted, false],
  ['ztunnel: a route', ztunnel, 'Route', { name: 'r', namespace: 'shop' }, false],
  ['waypoint: a workload anywhere', waypoint, 'Workload', workload(3), true],
  [
    'waypoint: a route in another namespace',
    waypoint,
    'Route',
    { name: 'r', namespace: 'x' },
    true,
  ],
  ['waypoint: a policy of its namespace', waypoint, 'Authorization', targeted, true],
  [
    'waypoint: a system policy',
    waypoint,
    'Authorization',
    authorization('ambit-system', 'p', { kind: 'mesh' }),
    true,
  ],
  [
    'waypoint: a policy of another namespace',
    waypoint,
    'Authorization',
    authorization('other', 'p'),
    false,
  ],
];

describe('scopeFor', () => {
  it.each(cases)('%s', (_what, id, type, resource, expected) => {
    expect(scopeFor(id)(type, resource)).toBe(expected);
  });
});

describe('subscribeMismatch', () => {
  const sub = (node: string): SubscribeMessage => ({
    schema: STREAM_SCHEMA,
    kind: 'subscribe' as const,
    node,
    types: ['Workload' as const],
    versions: {},
  });
  it('accepts a subscriber naming itself and refuses one naming another', () => {
    expect(subscribeMismatch(ztunnel, sub('node-a'))).toBeUndefined();
    expect(subscribeMismatch(ztunnel, sub('node-b'))).toMatch(
      /ztunnel\/node-a may only subscribe as "node-a"/,
    );
    expect(subscribeMismatch(waypoint, sub('wp'))).toBeUndefined();
    expect(subscribeMismatch(waypoint, sub('node-a'))).toMatch(/waypoint\/shop\/wp/);
  });
});
