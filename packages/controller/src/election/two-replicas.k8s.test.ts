// Two controller replicas in one process against the real API server: both serve, only the Lease
// holder writes (each replica counts the writes it made through its guard, and every write passes
// that guard), and when the leader dies (stopped without releasing the Lease, as in a crash) the
// other takes over within the lease duration and writes from then on.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import { loadConfig } from '../config.ts';
import { Controller } from '../controller.ts';
import { ensureNamespace, installCrds, kubeClients, waitFor } from '../testing/kube-fixtures.ts';

const id = randomBytes(3).toString('hex');
const sys = `le-sys-${id}`;
const app = `le-app-${id}`;
const LEASE_S = 3;

function start(identity: string): Promise<Controller> {
  const config = loadConfig(
    [
      '--kubeconfig',
      inject('ambitKubeconfig'),
      '--namespace',
      sys,
      '--listen',
      '127.0.0.1:0',
      '--monitoring-addr',
      '127.0.0.1:0',
      '--identity',
      identity,
      '--lease-duration',
      String(LEASE_S),
    ],
    {},
  );
  if (config === 'help') throw new Error('help');
  return Controller.start(config, {
    log: createLogger({ level: 'error', out: { write: () => true } }),
    retryPeriodMs: 300,
  });
}

const total = (c: Controller) => [...c.writes.values()].reduce((a, b) => a + b, 0);

describe('two controller replicas', () => {
  const replicas: Controller[] = [];
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    const c = kubeClients(inject('ambitKubeconfig'));
    await c.core.deleteNamespace({ name: app }).catch(() => {});
    await c.core.deleteNamespace({ name: sys }).catch(() => {});
  });

  it('write only while holding the Lease, and the survivor takes over when the leader dies', async () => {
    const c = kubeClients(inject('ambitKubeconfig'));
    await installCrds(c);
    await ensureNamespace(c, sys);
    await ensureNamespace(c, app, { 'ambit.dev/dataplane-mode': 'ambient' });
    const [a, b] = await Promise.all([start('replica-a'), start('replica-b')]);
    replicas.push(a, b);
    await waitFor('both ready', () => a.readiness().ready && b.readiness().ready);
    // Both use the one root: the Secret was created once.
    expect(a.roots).toBe(b.roots);
    expect([a.caSource, b.caSource].filter((s) => s === 'generated')).toHaveLength(1);

    const leader = a.elector.isLeader() ? a : b;
    const follower = leader === a ? b : a;
    expect(follower.elector.isLeader()).toBe(false);
    // The leader publishes the root ConfigMap into the ambient namespace; the follower writes nothing.
    await waitFor('root ConfigMap', () =>
      c.core.readNamespacedConfigMap({ namespace: app, name: 'ambit-root-cert' }),
    );
    await c.custom.createNamespacedCustomObject({
      group: 'ambit.dev',
      version: 'v1alpha1',
      namespace: app,
      plural: 'waypoints',
      body: { apiVersion: 'ambit.dev/v1alpha1', kind: 'Waypoint', metadata: { name: 'wp' } },
    });
    await waitFor('waypoint Deployment', () =>
      c.apps.readNamespacedDeployment({ namespace: app, name: 'wp' }),
    );
    expect(total(leader)).toBeGreaterThan(0);
    expect(total(follower)).toBe(0);

    // The leader dies without releasing the Lease.
    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    // Takeover waits for the Lease to expire by the follower's clock (a bound, generous for a
    // shared machine, not a speed check).
    await waitFor('follower leads', () => follower.elector.isLeader(), 3 * LEASE_S * 1000);
    const lease = await c.coordination.readNamespacedLease({
      namespace: sys,
      name: 'ambit-controller',
    });
    expect(lease.spec?.holderIdentity).toBe(follower.config.identity);

    // The new leader writes: deleting the Service makes it re-create it.
    await c.core.deleteNamespacedService({ namespace: app, name: 'wp' });
    await waitFor('Service re-created by the new leader', () =>
      c.core.readNamespacedService({ namespace: app, name: 'wp' }),
    );
    expect(total(follower)).toBeGreaterThan(0);
    const managers = (
      await c.core.readNamespacedService({ namespace: app, name: 'wp' })
    ).metadata?.managedFields?.map((m) => m.manager);
    expect(managers).toContain('ambit-controller');
  });
});
