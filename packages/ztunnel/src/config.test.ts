import { describe, expect, it } from 'vitest';
import { ZtunnelConfigError } from '@ambit/core/errors';
import { loadConfig, parseDuration, parseHostPort, type ZtunnelConfig } from './config.ts';

const load = (argv: string[], env: Record<string, string> = {}): ZtunnelConfig => {
  const c = loadConfig(argv, env, '/home/dev/mesh');
  if (c === 'help') throw new Error('unexpected help');
  return c;
};

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ZtunnelConfigError);
    expect((err as ZtunnelConfigError).code).toBe('AMBIT_ZTUNNEL_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected a ZtunnelConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults for local development', () => {
    const c = load(['--config-file', 'mesh.yaml', '--node-name', 'node-a']);
    expect(c).toEqual({
      nodeName: 'node-a',
      source: { kind: 'file', path: '/home/dev/mesh/mesh.yaml' },
      ca: { kind: 'local', dir: '/home/dev/mesh/.ambit/ca' },
      listen: {
        admin: { host: '127.0.0.1', port: 15000 },
        metrics: { host: '127.0.0.1', port: 15020 },
        readiness: { host: '127.0.0.1', port: 15021 },
        socks5: { host: '127.0.0.1', port: 15080 },
      },
      hbonePort: 15008,
      drainDeadlineMs: 30_000,
      logLevel: 'info',
      trustDomain: 'cluster.local',
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listen.admin)).toBe(true);
  });

  it('uses the controller for config and CA, flags over environment', () => {
    const c = load(
      ['--controller', 'ambit-controller.ambit-system:15012', '--log-level', 'debug'],
      {
        AMBIT_NODE_NAME: 'node-b',
        AMBIT_LOG_LEVEL: 'warn',
        AMBIT_TOKEN_PATH: '/tok',
        AMBIT_METRICS_ADDR: '0.0.0.0:15020',
        AMBIT_SOCKS5_ADDR: 'off',
        AMBIT_DRAIN_DEADLINE: '2m',
        AMBIT_TRUST_DOMAIN: 'example.org',
      },
    );
    const controller = {
      kind: 'controller',
      address: { host: 'ambit-controller.ambit-system', port: 15012 },
      tokenPath: '/tok',
    };
    expect(c.nodeName).toBe('node-b');
    expect(c.source).toEqual(controller);
    expect(c.ca).toEqual(controller);
    expect(c.logLevel).toBe('debug');
    expect(c.listen.metrics).toEqual({ host: '0.0.0.0', port: 15020 });
    expect(c.listen.socks5).toBeUndefined();
    expect(c.drainDeadlineMs).toBe(120_000);
    expect(c.trustDomain).toBe('example.org');
  });

  it('falls back to NODE_NAME (downward API) for the node name', () => {
    expect(load(['--config-file', 'x.yaml'], { NODE_NAME: 'kind-worker' }).nodeName).toBe(
      'kind-worker',
    );
  });

  it.each([
    [['--node-name', 'a'], /give --config-file <path> .* or --controller/],
    [['--config-file', 'a.yaml', '--controller', 'c:1'], /give one config source, not both/],
    [
      ['--config-file', 'a.yaml', '--admin-addr', '127.0.0.1'],
      /--admin-addr: "127.0.0.1" is not host:port/,
    ],
    [['--config-file', 'a.yaml', '--admin-addr', '127.0.0.1:70000'], /port 70000 is above 65535/],
    [
      ['--config-file', 'a.yaml', '--log-level', 'loud'],
      /--log-level: "loud" is not one of debug, info, warn, error/,
    ],
    [
      ['--config-file', 'a.yaml', '--drain-deadline', 'soon'],
      /--drain-deadline: "soon" is not a duration/,
    ],
    [['--config-file', 'a.yaml', '--hbone-port', '0'], /--hbone-port: "0" is not a port/],
    [['--config-file', 'a.yaml', '--trust-domain', 'Example.ORG'], /is not a SPIFFE trust domain/],
    [
      ['--config-file', 'a.yaml', '--node-name', 'Node_A'],
      /--node-name: "Node_A" is not a Kubernetes node name/,
    ],
    [['--config-file', 'a.yaml', '--bogus', 'x'], /Unknown option '--bogus'/],
  ])('refuses %j with a clear error', (argv, message) => {
    expect(failure(() => load(argv, { NODE_NAME: 'n' }))).toMatch(message);
  });

  it('names the environment variable when that is where the bad value came from', () => {
    expect(
      failure(() => load(['--config-file', 'a'], { AMBIT_LOG_LEVEL: 'chatty', NODE_NAME: 'n' })),
    ).toMatch(/^AMBIT_LOG_LEVEL: "chatty"/);
  });

  it('takes the in-pod socket, roots file and controller id (flags or environment)', () => {
    const c = load(['--controller', 'ctl:15012', '--inpod-socket', 'run/zt.sock'], {
      NODE_NAME: 'n',
      AMBIT_ROOTS_FILE: '/etc/ambit/roots.pem',
      AMBIT_CONTROLLER_ID: 'spiffe://cluster.local/ns/ambit-system/sa/controller',
    });
    expect(c.inpodSocket).toBe('/home/dev/mesh/run/zt.sock');
    expect(c.rootsFile).toBe('/etc/ambit/roots.pem');
    expect(c.controllerServerId).toBe('spiffe://cluster.local/ns/ambit-system/sa/controller');
    expect(
      failure(() => load(['--config-file', 'a', '--controller-id', 'ctl'], { NODE_NAME: 'n' })),
    ).toMatch(/^--controller-id: "ctl" is not a SPIFFE ID/);
  });

  it('answers --help', () => {
    expect(loadConfig(['--help'], {})).toBe('help');
  });
});

describe('parseHostPort and parseDuration', () => {
  it('accept IPv6 in brackets and the usual units', () => {
    expect(parseHostPort('x', '[::1]:15000')).toEqual({ host: '::1', port: 15000 });
    expect(parseHostPort('x', 'localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseDuration('x', '500ms')).toBe(500);
    expect(parseDuration('x', '1.5s')).toBe(1500);
    expect(parseDuration('x', '250')).toBe(250);
  });
});
