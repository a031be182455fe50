// Who may have which certificate, as a table over a reviewed token and a fixed set of pods.

import { describe, expect, it } from 'vitest';
import type { Pod, Waypoint } from '../translate/cluster-state.ts';
import {
  authorizeIdentity,
  DEFAULT_CALLER_POLICY,
  identifyCaller,
  type CallerLookup,
} from './caller-policy.ts';
import type { ReviewedToken } from './token-review.ts';

const pod = (
  ns: string,
  name: string,
  sa: string,
  node: string,
  extra: Partial<Pod['metadata']> = {},
  phase = 'Running',
): Pod => ({
  metadata: { namespace: ns, name, uid: `${ns}-${name}`, ...extra },
  spec: { nodeName: node, serviceAccountName: sa, containers: [] },
  status: { phase },
});

const pods: Pod[] = [
  pod('ambit-system', 'ztunnel-a', 'ztunnel', 'node-a'),
  pod('shop', 'web-1', 'web', 'node-a'),
  pod('shop', 'starting', 'cart', 'node-a', {}, 'Pending'),
  pod('shop', 'done', 'batch', 'node-a', {}, 'Succeeded'),
  pod('shop', 'db-1', 'db', 'node-b'),
  pod('shop', 'wp-5d9f-x', 'wp', 'node-b', {
    labels: { 'ambit.dev/waypoint': 'wp' },
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'wp-5d9f', uid: 'rs', controller: true },
    ],
  }),
  pod('shop', 'fake-wp', 'wp', 'node-b'),
];
const waypoints: Waypoint[] = [{ metadata: { namespace: 'shop', name: 'wp' } }];
const lookup: CallerLookup = {
  pod: (ns, name) =>
    Promise.resolve(pods.find((p) => p.metadata?.namespace === ns && p.metadata.name === name)),
  podsOnNode: (node) => Promise.resolve(pods.filter((p) => p.spec?.nodeName === node)),
  waypoint: (ns, name) =>
    Promise.resolve(
      waypoints.find((w) => w.metadata?.namespace === ns && w.metadata.name === name),
    ),
};

const ztunnelA: ReviewedToken = {
  namespace: 'ambit-system',
  serviceAccount: 'ztunnel',
  pod: { name: 'ztunnel-a', uid: 'ambit-system-ztunnel-a', node: 'node-a' },
};

async function decide(token: ReviewedToken, ns: string, sa: string): Promise<string> {
  const caller = await identifyCaller(token, DEFAULT_CALLER_POLICY, lookup);
  if (!caller.ok) return caller.reason.split(':', 1)[0] ?? '';
  const d = await authorizeIdentity(caller.caller, { namespace: ns, serviceAccount: sa }, lookup);
  return d.allowed ? 'allowed' : (d.reason.split(':', 1)[0] ?? '');
}

describe('caller policy', () => {
  it.each([
    ['ztunnel, pod on its node', ztunnelA, 'shop', 'web', 'allowed'],
    ['ztunnel, pod still Pending on its node', ztunnelA, 'shop', 'cart', 'allowed'],
    ['ztunnel, finished pod', ztunnelA, 'shop', 'batch', 'NotOnCallerNode'],
    ['ztunnel, pod on another node', ztunnelA, 'shop', 'db', 'NotOnCallerNode'],
    ['ztunnel, unknown ServiceAccount', ztunnelA, 'shop', 'nobody', 'NotOnCallerNode'],
    [
      'ztunnel token not bound to a pod',
      { namespace: 'ambit-system', serviceAccount: 'ztunnel' },
      'shop',
      'web',
      'TokenNotBoundToPod',
    ],
    [
      'ztunnel token of a replaced pod (uid differs)',
      { ...ztunnelA, pod: { name: 'ztunnel-a', uid: 'old' } },
      'shop',
      'web',
      'CallerPodGone',
    ],
    [
      'waypoint, own identity',
      { namespace: 'shop', serviceAccount: 'wp', pod: { name: 'wp-5d9f-x' } },
      'shop',
      'wp',
      'allowed',
    ],
    [
      'waypoint, another identity',
      { namespace: 'shop', serviceAccount: 'wp', pod: { name: 'wp-5d9f-x' } },
      'shop',
      'web',
      'NotOwnIdentity',
    ],
    [
      'waypoint SA on a pod not of its Deployment',
      { namespace: 'shop', serviceAccount: 'wp', pod: { name: 'fake-wp' } },
      'shop',
      'wp',
      'NotWaypointPod',
    ],
    [
      'an application ServiceAccount',
      { namespace: 'shop', serviceAccount: 'web', pod: { name: 'web-1' } },
      'shop',
      'web',
      'CallerNotAllowed',
    ],
  ] as const)('%s', async (_name, token, ns, sa, want) => {
    expect(await decide(token, ns, sa)).toBe(want);
  });
});
