import { describe, expect, it } from 'vitest';
import {
  decideShutdown,
  watchSaysUninstalling,
  type DaemonSetProbe,
  type DaemonSetView,
  type ShutdownFacts,
} from './shutdown-decision.ts';

const DS = 'ambit-system/ambit-node-agent';
const facts = (
  probe: DaemonSetProbe | undefined,
  watched: DaemonSetView = 'present',
  seen = true,
): ShutdownFacts => ({ daemonSet: DS, watched, seen, probe });

describe('decideShutdown: uninstall or restart', () => {
  const table: [string, ShutdownFacts, boolean, RegExp][] = [
    [
      'rolling restart / helm upgrade: the DaemonSet is there',
      facts({ kind: 'present', deleting: false }),
      false,
      /still there: a restart or upgrade/,
    ],
    [
      'helm uninstall: the DaemonSet is gone',
      facts({ kind: 'not-found' }, 'absent'),
      true,
      /is gone \(404\)/,
    ],
    ['gone even if the watch missed it', facts({ kind: 'not-found' }, 'present'), true, /is gone/],
    [
      'foreground deletion: deletionTimestamp set',
      facts({ kind: 'present', deleting: true }, 'deleting'),
      true,
      /being deleted/,
    ],
    [
      'the RBAC went first (403)',
      facts({ kind: 'refused', status: 403 }, 'present'),
      true,
      /refuses .* \(403\): the release's RBAC or ServiceAccount is gone/,
    ],
    [
      'the ServiceAccount went first (401)',
      facts({ kind: 'refused', status: 401 }, 'absent'),
      true,
      /\(401\)/,
    ],
    [
      'refused and never readable: misconfigured RBAC, not an uninstall',
      facts({ kind: 'refused', status: 403 }, 'unknown', false),
      false,
      /never showed it: check the agent's RBAC/,
    ],
    [
      'API unreachable, the watch saw the deletion',
      facts({ kind: 'failed', error: 'ECONNREFUSED' }, 'absent'),
      true,
      /watch saw .* deleted \(GET failed: ECONNREFUSED\)/,
    ],
    [
      'API unreachable, the watch saw a foreground deletion',
      facts({ kind: 'failed', error: 'timeout' }, 'deleting'),
      true,
      /being deleted/,
    ],
    [
      'API unreachable, nothing seen: keep the pods captured',
      facts({ kind: 'failed', error: 'timeout' }, 'present'),
      false,
      /cannot tell/,
    ],
    [
      'deleted and recreated before the stop (reinstall): the next agent takes over',
      facts({ kind: 'present', deleting: false }, 'absent'),
      false,
      /still there/,
    ],
    [
      'no DaemonSet configured (development)',
      { daemonSet: undefined, watched: 'unknown', seen: false, probe: undefined },
      false,
      /no DaemonSet configured/,
    ],
    [
      'listed absent but never seen (wrong name), GET unanswered: keep',
      facts({ kind: 'failed', error: 'x' }, 'absent', false),
      false,
      /cannot tell/,
    ],
  ];
  it.each(table)('%s', (_name, f, uninstall, reason) => {
    const plan = decideShutdown(f);
    expect(plan.uninstall).toBe(uninstall);
    expect(plan.reason).toMatch(reason);
    expect(plan.reason).toContain(f.daemonSet ?? '--daemonset');
  });
});

describe('watchSaysUninstalling', () => {
  it('only for a DaemonSet being deleted, or gone after having been seen', () => {
    expect(watchSaysUninstalling('deleting', true)).toBe(true);
    expect(watchSaysUninstalling('absent', true)).toBe(true);
    expect(watchSaysUninstalling('absent', false)).toBe(false);
    expect(watchSaysUninstalling('present', true)).toBe(false);
    expect(watchSaysUninstalling('unknown', false)).toBe(false);
  });
});
