import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempNetns, requireRoot, type TempNetns } from './testing/temp-netns.ts';

describe('a caller without privileges', () => {
  let ns: TempNetns;
  let results: Record<string, string>;

  beforeAll(() => {
    requireRoot();
    ns = createTempNetns();
    const probe = join(import.meta.dirname, 'testing', 'unprivileged-probe.ts');
    const out = execFileSync(process.execPath, [probe, ns.path], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    results = JSON.parse(out) as Record<string, string>;
  });
  afterAll(() => ns?.remove());

  it('really ran unprivileged', () => {
    expect(results['uid']).toBe('65534');
  });

  it('gets EPERM entering a netns (AMBIT_NETNS_SETNS) with a hint to run as root', () => {
    expect(results['enterNetns']).toBe('AMBIT_NETNS_SETNS EPERM');
    expect(results['socketInNetns']).toBe('AMBIT_NETNS_SETNS EPERM');
    expect(results['socketInNetns.message']).toContain(ns.path);
    expect(results['socketInNetns.message']).toMatch(/CAP_SYS_ADMIN/);
  });

  it('gets EPERM for SO_MARK and IP_TRANSPARENT (AMBIT_SOCKET)', () => {
    expect(results['setMark']).toBe('AMBIT_SOCKET EPERM');
    expect(results['setTransparent']).toBe('AMBIT_SOCKET EPERM');
    expect(results['setMark.message']).toMatch(/CAP_NET_ADMIN/);
  });
});
