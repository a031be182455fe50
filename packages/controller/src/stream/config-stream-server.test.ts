// The config stream server with core's real ConfigStreamClient (and a raw HTTP/2 subscriber for
// what a good client never does), over TLS 1.3 + HTTP/2 on 127.0.0.1.

import { afterEach, describe, expect, it } from 'vitest';
import type { Workload } from '@ambit/core/mesh/types';
import { seed, startTestController, until, workload, type TestController } from './test-harness.ts';

let c: TestController | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

const change = (...ws: Workload[]) => ({
  changed: new Map(ws.map((w) => [w.uid as string, w])),
  removed: new Set<string>(),
});

describe('config stream server', () => {
  it('sends a snapshot of every type, then a one-resource change as a one-resource delta', async () => {
    c = await startTestController();
    seed(c.store, 200, 20);
    const { client, updates } = c.client('ztunnel:node-1', 'node-1');
    await client.ready();
    expect(client.resources('Workload').size).toBe(200);
    expect(client.resources('Service').size).toBe(20);
    expect(client.resources('MeshConfig').size).toBe(1);
    // ztunnel does not get the policy enforced by a waypoint (targetRefs).
    expect([...client.resources('Authorization').keys()].sort()).toEqual([
      'ambit-system/mesh-wide',
      'ns-1/allow-own',
    ]);
    expect(updates.map((u) => u.snapshot)).toEqual([true, true, true, true]);

    c.store.publish('Workload', change(workload(7, { healthy: false })));
    await until(() => updates.length === 5, 'the delta');
    expect(updates[4]).toMatchObject({
      type: 'Workload',
      snapshot: false,
      changed: ['uid-7'],
      removed: [],
    });
    expect(client.resources('Workload').get('uid-7')?.healthy).toBe(false);
    const snapshotBytes = await c.metric('ambit_controller_config_bytes_total', {
      type: 'Workload',
      mode: 'snapshot',
    });
    const deltaBytes = await c.metric('ambit_controller_config_bytes_total', {
      type: 'Workload',
      mode: 'delta',
    });
    expect(deltaBytes).toBeGreaterThan(0);
    expect(deltaBytes).toBeLessThan(1000);
    expect(snapshotBytes).toBeGreaterThan(50 * deltaBytes);

    c.store.publish('Workload', { changed: new Map(), removed: new Set(['uid-8']) });
    await until(() => updates.length === 6, 'the removal');
    expect(updates[5]).toMatchObject({ snapshot: false, changed: [], removed: ['uid-8'] });
    expect(client.resources('Workload').size).toBe(199);
    expect(client.state().versions.Workload).toBe(c.store.wireVersion(c.store.version('Workload')));

    expect(
      await c.metric('ambit_controller_config_pushes_total', { type: 'Workload', mode: 'delta' }),
    ).toBe(2);
    expect(await c.metric('ambit_controller_connected_proxies', { kind: 'ztunnel' })).toBe(1);
    expect(await c.registry.metrics()).toContain(
      'ambit_controller_config_push_latency_seconds_count{type="Workload"} 2',
    );
  });

  it('keeps one message per type in flight: changes before the ACK coalesce into one delta; a NACK is not resent', async () => {
    c = await startTestController();
    seed(c.store, 50, 5);
    const raw = c.raw('ztunnel:node-1', 'node-1', ['Workload']);
    await raw.until(() => raw.messages.length === 1, 10_000, 'the snapshot');
    const snapshot = raw.messages[0]!;
    expect(snapshot.resources).toHaveLength(50);

    c.store.publish('Workload', change(workload(1, { healthy: false })));
    c.store.publish('Workload', change(workload(2, { healthy: false })));
    c.store.publish('Workload', { changed: new Map(), removed: new Set(['uid-3']) });
    await new Promise((r) => setTimeout(r, 150)); // several debounce windows
    expect(raw.messages).toHaveLength(1); // nothing while the snapshot is unanswered

    raw.ack(snapshot);
    await raw.until(() => raw.messages.length === 2, 10_000, 'the delta');
    const delta = raw.messages[1]!;
    expect(delta.resources.map((w) => (w as Workload).uid).sort()).toEqual(['uid-1', 'uid-2']);
    expect(delta.removed).toEqual(['uid-3']);
    expect(delta.version).toBe(c.store.wireVersion(c.store.version('Workload')));

    raw.nack(delta, snapshot.version, 'uid-1: refused by the test');
    await new Promise((r) => setTimeout(r, 150));
    expect(raw.messages).toHaveLength(2); // no resend of the refused version
    expect(await c.metric('ambit_controller_config_nacks_total', { type: 'Workload' })).toBe(1);
    expect(c.logs.some((l) => l.includes('NACKed') && l.includes('refused by the test'))).toBe(
      true,
    );
    const [info] = c.stream.subscribers();
    expect(info?.types.Workload).toMatchObject({ acked: snapshot.version, nacks: 1 });

    // The next change: a delta from the last ACKed version (the snapshot), so it carries all.
    c.store.publish('Workload', change(workload(4, { healthy: false })));
    await raw.until(() => raw.messages.length === 3, 10_000, 'the delta after the NACK');
    const next = raw.messages[2]!;
    expect(next.resources.map((w) => (w as Workload).uid).sort()).toEqual([
      'uid-1',
      'uid-2',
      'uid-4',
    ]);
    expect(next.removed).toEqual(['uid-3']);
  });

  it('a NACKed snapshot is followed by a snapshot again; a long-unACKed subscriber past the change log gets an exact delta', async () => {
    c = await startTestController();
    seed(c.store, 20, 2);
    const raw = c.raw('ztunnel:node-1', 'node-1', ['Workload']);
    await raw.until(() => raw.messages.length === 1);
    raw.nack(raw.messages[0]!, '', 'no');
    c.store.publish('Workload', change(workload(0, { healthy: false })));
    await raw.until(() => raw.messages.length === 2);
    expect(raw.messages[1]!.resources).toHaveLength(20); // a snapshot: nothing was ACKed yet
    raw.ack(raw.messages[1]!);
    // Many changes while the subscriber sits on a message: more than the change log keeps
    // (max(4096, 2 × set size) keys), so the next delta compares whole sets.
    c.store.publish('Workload', change(workload(1, { healthy: false })));
    await raw.until(() => raw.messages.length === 3);
    for (let i = 0; i < 4200; i++) {
      c.store.publish('Workload', change(workload(2, { canonicalRevision: `r${i}` })));
    }
    c.store.publish('Workload', { changed: new Map(), removed: new Set(['uid-5']) });
    raw.ack(raw.messages[2]!);
    await raw.until(() => raw.messages.length === 4);
    const exact = raw.messages[3]!;
    expect(exact.resources.map((w) => (w as Workload).uid)).toEqual(['uid-2']);
    expect((exact.resources[0] as Workload).canonicalRevision).toBe('r4199');
    expect(exact.removed).toEqual(['uid-5']);
  });

  it('a NACK with the real client keeps its old state, and the next change recovers', async () => {
    c = await startTestController();
    seed(c.store, 30, 3);
    const errors: Error[] = [];
    const { client, updates } = c.client('ztunnel:node-2', 'node-2', ['Workload'], {
      apply: (u) => {
        if (u.type === 'Workload' && [...u.resources.values()].some((w) => w.labels.bad)) {
          throw new Error('refused: a workload labelled bad');
        }
      },
      onError: (e) => errors.push(e),
    });
    await client.ready();
    const before = client.state().versions.Workload;
    c.store.publish('Workload', change(workload(5, { labels: { bad: 'yes' } })));
    await until(() => client.state().types.Workload?.lastNack !== undefined, 'the NACK');
    expect(client.state().versions.Workload).toBe(before);
    expect(client.resources('Workload').get('uid-5')?.labels.bad).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual(['refused: a workload labelled bad']);

    c.store.publish('Workload', change(workload(5), workload(6, { healthy: false })));
    await until(() => updates.length === 2, 'the recovering delta');
    expect(updates[1]).toMatchObject({ snapshot: false });
    expect([...updates[1]!.changed].sort()).toEqual(['uid-5', 'uid-6']);
    expect(client.resources('Workload').get('uid-6')?.healthy).toBe(false);
    expect(await c.metric('ambit_controller_config_nacks_total', { type: 'Workload' })).toBe(1);
  });

  it('a subscriber that never reads does not delay another, holds one message, and is dropped when stuck', async () => {
    c = await startTestController({ ackTimeoutMs: 1500 });
    seed(c.store, 2000, 50); // the Workload snapshot is far over HTTP/2's 64 KiB window
    const slow = c.raw('ztunnel:node-3', 'node-3', ['Workload', 'Service'], { read: false });
    const fast = c.client('ztunnel:node-4', 'node-4');
    await fast.client.ready();
    const slowInfo = () => c!.stream.subscribers().find((s) => s.node === 'node-3');
    await until(() => (slowInfo()?.bufferedBytes ?? 0) > 0, 'the slow one backing up');

    for (let i = 0; i < 5; i++) c.store.publish('Workload', change(workload(9, { name: `x${i}` })));
    await until(
      () => fast.client.resources('Workload').get('uid-9')?.name === 'x4',
      'the fast one updated',
    );
    const info = slowInfo();
    expect(info?.types.Workload?.inFlight?.snapshot).toBe(true); // still its first message
    expect(info?.types.Workload?.acked).toBeUndefined();
    expect(info?.bufferedBytes).toBeGreaterThan(0);
    expect(info?.bufferedBytes).toBeLessThan(2 * 1024 * 1024); // the two snapshots, nothing queued

    await until(() => slowInfo() === undefined, 'the stuck one dropped');
    await slow.until(() => slow.closedWith !== undefined);
    expect(
      await c.metric('ambit_controller_config_stream_disconnects_total', { reason: 'stuck' }),
    ).toBe(1);
    c.store.publish('Workload', change(workload(9, { name: 'after' })));
    await until(
      () => fast.client.resources('Workload').get('uid-9')?.name === 'after',
      'the fast one still served',
    );
  });

  it('resumes after a reconnect: a snapshot with only what changed meanwhile, the held versions seen', async () => {
    c = await startTestController();
    seed(c.store, 100, 10);
    const { client, updates } = c.client('ztunnel:node-5', 'node-5');
    await client.ready();
    const held = client.state().versions;
    const before = updates.length;

    await c.restart();
    c.store.publish('Workload', change(workload(11, { healthy: false })));
    await until(
      () => client.resources('Workload').get('uid-11')?.healthy === false,
      'the change after reconnect',
    );
    await until(() => updates.length === before + 4, 'a snapshot per type');
    const after = updates.slice(before);
    expect(after.every((u) => u.snapshot)).toBe(true);
    expect(after.find((u) => u.type === 'Workload')?.changed).toEqual(['uid-11']);
    expect(after.filter((u) => u.type !== 'Workload').every((u) => u.changed.length === 0)).toBe(
      true,
    );
    expect(c.stream.subscribers()[0]?.resumedFrom).toEqual(held);
    expect(c.logs.some((l) => l.includes('"Workload":"behind by 1"'))).toBe(true);
  });

  it('scopes a waypoint: routes, and the policies of its own and the system namespace', async () => {
    c = await startTestController();
    seed(c.store, 10, 2);
    const { client } = c.client('waypoint:ns-2:wp', 'wp', [
      'Workload',
      'Service',
      'Authorization',
      'Route',
      'MeshConfig',
    ]);
    await client.ready();
    expect([...client.resources('Authorization').keys()].sort()).toEqual([
      'ambit-system/mesh-wide',
      'ns-2/waypoint-only',
    ]);
    expect([...client.resources('Route').keys()]).toEqual(['ns-3/reviews']);
    expect(client.resources('Workload').size).toBe(10);
    expect(await c.metric('ambit_controller_connected_proxies', { kind: 'waypoint' })).toBe(1);
  });
});
