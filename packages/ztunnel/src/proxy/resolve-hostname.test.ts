import { describe, expect, it } from 'vitest';
import { testSnapshot } from '../telemetry/test-fixtures.ts';
import { forwardedFor } from './inbound.ts';
import { resolveTarget } from './resolve-hostname.ts';

describe('resolveTarget (explicit-mode names)', () => {
  const s = testSnapshot();
  const vip = s.servicesByHostname.get('reviews.bookinfo.svc.cluster.local')?.vips[0];
  if (vip === undefined) throw new Error('fixture has no reviews service');
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['FD00::1', 'fd00::1'],
    ['reviews.bookinfo.svc.cluster.local', vip],
    ['reviews.bookinfo.svc.cluster.local.', vip],
    ['Reviews.Bookinfo', vip],
    ['reviews.bookinfo.svc', vip],
  ])('%s → %s', (host, ip) => {
    expect(resolveTarget(s, host)).toEqual({ ok: true, ip });
  });
  it.each(['example.com', 'reviews', 'reviews.other.svc.cluster.local', ''])(
    'refuses %j with the reason',
    (host) => {
      const r = resolveTarget(s, host);
      expect(r.ok).toBe(false);
      expect(r.ok ? '' : r.reason).toContain('not a service hostname in the mesh');
    },
  );
});

describe('forwardedFor (the client address an HBONE peer reports)', () => {
  it.each([
    ['for="10.0.0.1:40000"', { host: '10.0.0.1', port: 40000 }],
    ['for="[fd00::1]:8080"', { host: 'fd00::1', port: 8080 }],
    ['for=10.0.0.2', { host: '10.0.0.2', port: 0 }],
    ['proto=https;for="10.0.0.3:1", for="10.9.9.9:2"', { host: '10.0.0.3', port: 1 }],
  ])('%s', (header, want) => {
    expect(forwardedFor(header)).toEqual(want);
  });
  it.each([undefined, '', 'by=10.0.0.1'])('%j has none', (header) => {
    expect(forwardedFor(header)).toBeUndefined();
  });
});
