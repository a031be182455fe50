import { describe, expect, it } from 'vitest';
import {
  nodeProbeScript,
  podRulesScript,
  removePodRulesScript,
  removeReplyRoutingCommands,
  replyRoutingCommands,
} from './pod-rules.ts';

describe('pod capture rules', () => {
  const script = podRulesScript();
  it('replace the dedicated table in one transaction', () => {
    expect(script.startsWith('table inet ambit\ndelete table inet ambit\ntable inet ambit {')).toBe(
      true,
    );
    expect(removePodRulesScript()).toBe('table inet ambit\ndelete table inet ambit\n');
  });
  it('exempt ztunnel marks, loopback and probes, then redirect', () => {
    const out = script.slice(script.indexOf('chain outbound'));
    const order = [
      'meta mark 0x539',
      'oifname "lo" return',
      'ip daddr 127.0.0.0/8 return',
      'redirect to :15001',
    ];
    const at = order.map((s) => out.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const inb = script.slice(script.indexOf('chain inbound'), script.indexOf('chain outbound'));
    const inOrder = ['ip saddr 169.254.7.127', 'tcp dport 15008 return', 'redirect to :15006'];
    const inAt = inOrder.map((s) => inb.indexOf(s));
    expect(inAt.every((i) => i >= 0)).toBe(true);
    expect([...inAt].sort((a, b) => a - b)).toEqual(inAt);
  });
  it('node probe SNAT lists only captured pods, by family', () => {
    const s = nodeProbeScript(['10.22.0.5', 'fd00::5', '10.22.0.6']);
    expect(s).toContain('set captured4 { type ipv4_addr; elements = { 10.22.0.5, 10.22.0.6 }; }');
    expect(s).toContain('set captured6 { type ipv6_addr; elements = { fd00::5 }; }');
    expect(nodeProbeScript([])).toContain('set captured4 { type ipv4_addr; }');
  });
  it('mark ztunnel’s connections to the app and route the app’s replies back to it', () => {
    const inChain = script.slice(script.indexOf('chain reply_mark_in'));
    expect(inChain).toMatch(
      /^chain reply_mark_in \{\n\s+type filter hook prerouting priority mangle; policy accept;\n\s+meta mark 0x539 ct mark set 0x111 /,
    );
    const outChain = script.slice(script.indexOf('chain reply_mark_out'));
    expect(outChain).toMatch(
      /^chain reply_mark_out \{\n\s+type route hook output priority mangle; policy accept;\n\s+ct mark 0x111 meta mark set 0x111 /,
    );
  });
});

describe('reply routing (ip rule + local route)', () => {
  const line = (c: { args: readonly string[] }): string => c.args.join(' ');
  it('adds the local route before the rule, IPv4 only for an IPv4 pod', () => {
    expect(replyRoutingCommands(['10.22.0.5']).map(line)).toEqual([
      '-4 route replace local 0.0.0.0/0 dev lo table 100',
      '-4 rule add fwmark 0x111 lookup 100 priority 32764',
    ]);
  });
  it('adds both families for a dual-stack pod', () => {
    expect(replyRoutingCommands(['10.22.0.5', 'fd00::5']).map(line)).toEqual([
      '-4 route replace local 0.0.0.0/0 dev lo table 100',
      '-4 rule add fwmark 0x111 lookup 100 priority 32764',
      '-6 route replace local ::/0 dev lo table 100',
      '-6 rule add fwmark 0x111 lookup 100 priority 32764',
    ]);
  });
  it('a second add is done when the kernel says the rule exists', () => {
    const [, rule] = replyRoutingCommands(['10.22.0.5']);
    expect(rule?.done.test('RTNETLINK answers: File exists')).toBe(true);
    expect(rule?.done.test('Error: argument "100x" is wrong')).toBe(false);
  });
  it('removes rule then route for both families, and absent ones are done', () => {
    const cmds = removeReplyRoutingCommands();
    expect(cmds.map(line)).toEqual([
      '-4 rule del fwmark 0x111 lookup 100 priority 32764',
      '-4 route del local 0.0.0.0/0 dev lo table 100',
      '-6 rule del fwmark 0x111 lookup 100 priority 32764',
      '-6 route del local ::/0 dev lo table 100',
    ]);
    for (const absent of [
      'RTNETLINK answers: No such file or directory',
      'RTNETLINK answers: No such process',
      'Error: FIB table does not exist.',
    ])
      expect(cmds.every((c) => c.done.test(absent))).toBe(true);
    expect(cmds[0]?.done.test('RTNETLINK answers: Operation not permitted')).toBe(false);
  });
});
