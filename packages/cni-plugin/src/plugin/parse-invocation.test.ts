import { describe, expect, it } from 'vitest';
import { CNI_ERR, parseInvocation } from './parse-invocation.ts';

const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/p1' }],
  ips: [{ address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 0 }],
};
const conf = { cniVersion: '1.0.0', name: 'k8s', type: 'ambit-cni', prevResult };
const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/p1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_UID=u1',
};

describe('parseInvocation', () => {
  it('reads an ADD as a runtime sends it', () => {
    const p = parseInvocation(env, JSON.stringify(conf));
    expect(p).toEqual({
      ok: true,
      inv: {
        command: 'ADD',
        config: {
          cniVersion: '1.0.0',
          name: 'k8s',
          agentSocket: '/var/run/ambit/cni.sock',
          timeoutMs: 30000,
          prevResult,
        },
        containerId: 'c1',
        netns: '/var/run/netns/p1',
        ifname: 'eth0',
        pod: { name: 'web-0', namespace: 'shop', uid: 'u1' },
        ips: ['10.22.0.5'],
      },
    });
  });

  it('lets DEL go without a netns', () => {
    const p = parseInvocation({ ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, JSON.stringify(conf));
    expect(p.ok && p.inv.command === 'DEL' && p.inv.netns).toBe(undefined);
  });

  it.each([
    ['bad JSON', env, '{"cniVersion":', CNI_ERR.DECODE_FAILURE, /cannot decode/],
    ['empty stdin', env, '', CNI_ERR.DECODE_FAILURE, /cannot decode/],
    [
      'unknown command',
      { ...env, CNI_COMMAND: 'FROB' },
      JSON.stringify(conf),
      CNI_ERR.INVALID_ENV,
      /unknown CNI_COMMAND "FROB"/,
    ],
    [
      'no command',
      { ...env, CNI_COMMAND: undefined },
      JSON.stringify(conf),
      CNI_ERR.INVALID_ENV,
      /unknown CNI_COMMAND ""/,
    ],
    [
      'missing CNI_NETNS',
      { ...env, CNI_NETNS: undefined },
      JSON.stringify(conf),
      CNI_ERR.INVALID_ENV,
      /CNI_NETNS is not set/,
    ],
    [
      'missing CNI_CONTAINERID',
      { ...env, CNI_CONTAINERID: '' },
      JSON.stringify(conf),
      CNI_ERR.INVALID_ENV,
      /CNI_CONTAINERID/,
    ],
    [
      'old version',
      env,
      JSON.stringify({ ...conf, cniVersion: '0.2.0' }),
      CNI_ERR.INCOMPATIBLE_VERSION,
      /0.2.0 is not supported/,
    ],
    [
      'no prevResult',
      env,
      JSON.stringify({ ...conf, prevResult: undefined }),
      CNI_ERR.INVALID_CONFIG,
      /chained plugin/,
    ],
    [
      'relative socket',
      env,
      JSON.stringify({ ...conf, agentSocket: 'cni.sock' }),
      CNI_ERR.INVALID_CONFIG,
      /agentSocket/,
    ],
    [
      'bad timeout',
      env,
      JSON.stringify({ ...conf, timeoutMs: -1 }),
      CNI_ERR.INVALID_CONFIG,
      /timeoutMs/,
    ],
  ])('refuses %s with the spec error code', (_name, e, stdin, code, msg) => {
    const p = parseInvocation(e, stdin);
    expect(p.ok).toBe(false);
    if (!p.ok) {
      expect(p.err.code).toBe(code);
      expect(p.err.msg).toMatch(msg);
    }
  });

  it('answers VERSION without a network config', () => {
    expect(parseInvocation({ CNI_COMMAND: 'VERSION' }, '')).toEqual({
      ok: true,
      inv: { command: 'VERSION', cniVersion: '1.0.0' },
    });
  });

  it('passes through pods that are not Kubernetes pods', () => {
    const p = parseInvocation({ ...env, CNI_ARGS: 'IgnoreUnknown=1' }, JSON.stringify(conf));
    expect(p.ok && p.inv.command === 'ADD' && p.inv.pod).toBe(undefined);
  });
});
