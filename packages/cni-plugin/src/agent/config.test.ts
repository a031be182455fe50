import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from './config.ts';

describe('node agent config: where pod facts come from', () => {
  it('a pods file means the local source', () => {
    const c = parseAgentConfig('node: n1\npodsFile: /etc/ambit/pods.yaml\n', 'run');
    expect(c.pods).toEqual({ file: '/etc/ambit/pods.yaml' });
    expect(c.node).toBe('n1');
  });
  it('without a pods file: Kubernetes, in-cluster unless a kubeconfig is given', () => {
    expect(parseAgentConfig('node: n1\n', 'run').pods).toEqual({});
    expect(parseAgentConfig('kubeconfig: /etc/kc\n', 'run').pods).toEqual({
      kubeconfig: '/etc/kc',
    });
  });
  it('--kubeconfig and --node-name override the file', () => {
    const c = parseAgentConfig('node: from-file\nkubeconfig: /etc/kc\n', 'run', 'f', {
      nodeName: 'from-flag',
      kubeconfig: '/root/kc',
    });
    expect(c).toMatchObject({ node: 'from-flag', pods: { kubeconfig: '/root/kc' } });
  });
  it('refuses both a pods file and a kubeconfig, and relative paths', () => {
    expect(() =>
      parseAgentConfig('podsFile: /p.yaml\n', 'run', 'f', { kubeconfig: '/kc' }),
    ).toThrow(/exclude each other/);
    expect(() => parseAgentConfig('kubeconfig: kc\n', 'run')).toThrow(/not an absolute path/);
  });

  it('log level: info by default, from the file or --log-level; anything else refused', () => {
    expect(parseAgentConfig('podsFile: /p.yaml', 'run').logLevel).toBe('info');
    expect(parseAgentConfig('podsFile: /p.yaml\nlogLevel: debug', 'run').logLevel).toBe('debug');
    expect(
      parseAgentConfig('podsFile: /p.yaml\nlogLevel: debug', 'run', 'f', { logLevel: 'warn' })
        .logLevel,
    ).toBe('warn');
    expect(() =>
      parseAgentConfig('podsFile: /p.yaml\nlogLevel: loud', 'run', 'agent.yaml'),
    ).toThrow(/agent\.yaml: .*logLevel.*"loud" is not one of debug, info, warn, error/);
  });

  it('daemonSet: from --daemonset or the file, <namespace>/<name>, Kubernetes source only', () => {
    expect(parseAgentConfig('node: n1\n', 'run').daemonSet).toBeUndefined();
    expect(parseAgentConfig('daemonSet: ambit-system/ambit-node-agent\n', 'run').daemonSet).toEqual(
      { namespace: 'ambit-system', name: 'ambit-node-agent' },
    );
    expect(
      parseAgentConfig('daemonSet: a/b\n', 'run', 'f', {
        daemonSet: 'ambit-system/ambit-node-agent-n1',
      }).daemonSet,
    ).toEqual({ namespace: 'ambit-system', name: 'ambit-node-agent-n1' });
    for (const bad of ['ambit-node-agent', 'a/b/c', 'Ambit/x', '/x'])
      expect(() => parseAgentConfig('', 'run', 'f', { daemonSet: bad })).toThrow(
        /daemonSet: .* is not <namespace>\/<name>/,
      );
    expect(() => parseAgentConfig('podsFile: /p.yaml\ndaemonSet: a/b\n', 'run')).toThrow(
      /needs the Kubernetes API/,
    );
  });
});
