import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestPki } from './pki.ts';

const DAY = 86_400_000;

describe('createTestPki', () => {
  it('returns one CA per trust domain per process', async () => {
    const [a, b, c] = await Promise.all([
      createTestPki(),
      createTestPki('cluster.local'),
      createTestPki('other.local'),
    ]);
    expect(a).toBe(b);
    expect(a.trustDomain).toBe('cluster.local');
    expect(c.rootCertPem).not.toBe(a.rootCertPem);
  });

  it('issues a 24 h identity for ns/sa by default', async () => {
    const pki = await createTestPki();
    const t = await pki.issue('shop', 'cart');
    expect(t.id).toBe('spiffe://cluster.local/ns/shop/sa/cart');
    expect(t.roots).toBe(pki.rootCertPem);
    expect(new X509Certificate(t.certChain).checkIssued(new X509Certificate(pki.rootCertPem))).toBe(
      true,
    );
    expect(Math.abs(t.notAfter.getTime() - Date.now() - DAY)).toBeLessThan(5_000);
  });

  it.each([
    ['a TTL', () => ({ ttlMs: 60_000 }), () => Date.now() + 60_000],
    [
      'an expired window',
      () => ({ notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }),
      () => Date.now() - DAY,
    ],
    [
      'a future window given as notBefore + TTL',
      () => ({ notBefore: new Date(Date.now() + DAY), ttlMs: 3_600_000 }),
      () => Date.now() + DAY + 3_600_000,
    ],
  ])('honours %s', async (_name, opts, expectedNotAfter) => {
    const pki = await createTestPki();
    const o = opts();
    const t = await pki.issue('shop', 'cart', o);
    if ('notBefore' in o && o.notBefore)
      expect(Math.abs(t.notBefore.getTime() - o.notBefore.getTime())).toBeLessThan(1_000);
    // Certificates hold whole seconds.
    expect(Math.abs(t.notAfter.getTime() - expectedNotAfter())).toBeLessThan(2_000);
  });
});
