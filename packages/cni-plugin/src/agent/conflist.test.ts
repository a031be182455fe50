import { describe, expect, it } from 'vitest';
import { hasAmbitPlugin, pickCniConfig, withAmbitPlugin, withoutAmbitPlugin } from './conflist.ts';

const original = {
  cniVersion: '1.0.0',
  name: 'k8s-pod-network',
  plugins: [
    { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.22.0.0/16' } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
  extra: { kept: true },
};
const entry = { agentSocket: '/var/run/ambit/cni.sock', timeoutMs: 20000 };

describe('conflist editing', () => {
  it('appends ambit-cni last and keeps everything else', () => {
    const out = JSON.parse(withAmbitPlugin(JSON.stringify(original), entry)) as typeof original;
    expect(out.plugins).toEqual([...original.plugins, { ...entry, type: 'ambit-cni' }]);
    expect(out.extra).toEqual({ kept: true });
    expect(out.name).toBe('k8s-pod-network');
  });

  it('is idempotent and moves a stale entry to the end', () => {
    const once = withAmbitPlugin(JSON.stringify(original), entry);
    expect(withAmbitPlugin(once, entry)).toBe(once);
    const stale = {
      ...original,
      plugins: [{ type: 'ambit-cni', timeoutMs: 1 }, ...original.plugins],
    };
    const fixed = JSON.parse(withAmbitPlugin(JSON.stringify(stale), entry)) as typeof original;
    expect(fixed.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'ambit-cni']);
    expect(fixed.plugins[2]).toEqual({ ...entry, type: 'ambit-cni' });
  });

  it('removes only ambit-cni', () => {
    const installed = withAmbitPlugin(JSON.stringify(original), entry);
    expect(hasAmbitPlugin(installed)).toBe(true);
    const removed = withoutAmbitPlugin(installed);
    expect(JSON.parse(removed)).toEqual(original);
    expect(hasAmbitPlugin(removed)).toBe(false);
  });

  it('refuses what it cannot chain into', () => {
    expect(() => withAmbitPlugin('{', entry, 'x.conflist')).toThrow(/x.conflist: not valid JSON/);
    expect(() => withAmbitPlugin('{"type":"bridge"}', entry, '10.conf')).toThrow(
      /no "plugins" list/,
    );
  });

  it('picks the file the runtime uses', () => {
    expect(
      pickCniConfig(['99-x.conflist', '10-a.conflist', '.10-a.conflist.1.tmp', 'README']),
    ).toBe('10-a.conflist');
    expect(pickCniConfig(['README'])).toBeUndefined();
  });
});
