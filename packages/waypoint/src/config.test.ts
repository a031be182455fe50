import { waypointObjects } from '@ambit/controller/waypoint/waypoint-objects';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROOTS_FILE, loadConfig } from './config.ts';

/** The container the controller's reconciler renders, its env resolved as the kubelet would. */
function renderedContainer(): { argv: string[]; env: NodeJS.ProcessEnv } {
  const { deployment } = waypointObjects(
    { metadata: { name: 'shop-wp', namespace: 'shop', uid: 'u1' }, spec: {} },
    {
      image: 'ghcr.io/ambit-mesh/waypoint:test',
      controllerAddress: 'ambit-controller.ambit-system.svc:15012',
    },
  );
  const c = deployment.spec?.template.spec?.containers[0];
  if (c === undefined) throw new Error('no container');
  const downward: Record<string, string> = {
    'metadata.name': 'shop-wp-7d9f-abcde',
    'metadata.namespace': 'shop',
    'spec.nodeName': 'node-1',
  };
  const env: NodeJS.ProcessEnv = {};
  for (const e of c.env ?? [])
    env[e.name] = e.value ?? downward[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '';
  return { argv: [...(c.command ?? []).slice(1), ...(c.args ?? [])], env };
}

describe('waypoint config', () => {
  it("accepts exactly the controller reconciler's Deployment args and env", () => {
    const { argv, env } = renderedContainer();
    const c = loadConfig(argv, env);
    expect(c).toMatchObject({
      name: 'shop-wp',
      namespace: 'shop',
      podName: 'shop-wp-7d9f-abcde',
      nodeName: 'node-1',
      trustDomain: 'cluster.local',
      hbone: { host: '0.0.0.0', port: 15008 },
      metricsPort: 15020,
      readinessPort: 15021,
      origin: {
        kind: 'controller',
        address: { host: 'ambit-controller.ambit-system.svc', port: 15012 },
        tokenPath: '/var/run/secrets/tokens/ambit-token',
        rootsPath: DEFAULT_ROOTS_FILE,
      },
      // The pod mounts no certificate: it asks the controller's CA as its own ServiceAccount.
      identity: { kind: 'ca', id: 'spiffe://cluster.local/ns/shop/sa/shop-wp' },
    });
  });

  it('runs alone with a local file and identity directory', () => {
    const c = loadConfig(
      [
        '--name',
        'wp',
        '--namespace',
        'ns',
        '--config-file',
        'm.yaml',
        '--identity-dir',
        'd',
        '--hbone',
        '127.0.0.1:0',
      ],
      {},
    );
    expect(c.origin).toEqual({ kind: 'file', path: 'm.yaml' });
    expect(c.identity).toEqual({ kind: 'files', dir: 'd', name: 'waypoint' });
    expect(c.hbone).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it.each([
    [['--config-file', 'm.yaml', '--identity-dir', 'd'], {}, /--name/],
    [['--config-file', 'm.yaml'], { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' }, /--identity-dir/],
    [
      ['--controller', 'c:1', '--config-file', 'm'],
      { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' },
      /not both/,
    ],
    [['--controller', 'nohost'], { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' }, /HOST:PORT/],
    [['--controller', 'c:1', '--bogus'], { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' }, /bogus/],
    [['--controller', 'c:99999'], { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' }, /not a port/],
    [
      ['--controller', 'c:1', '--controller-id', 'x'],
      { WAYPOINT_NAME: 'w', POD_NAMESPACE: 'n' },
      /SPIFFE/,
    ],
  ])('refuses %j with a named flag', (argv, env, message) => {
    expect(() => loadConfig(argv, env)).toThrow(message);
    try {
      loadConfig(argv, env);
    } catch (err) {
      expect((err as { code: string }).code).toBe('AMBIT_WAYPOINT_CONFIG');
    }
  });
});
