import { describe, expect, it } from 'vitest';
import { nodeProbeScript, podRulesScript, removePodRulesScript } from './pod-rules.ts';

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
});
