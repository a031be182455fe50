import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createTestPki } from '../testing/pki.ts';
import { spiffeIdFromPeerCertificate } from './peer-identity.ts';
import { parseSubjectAltName } from './uri-sans.ts';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';
/** What tls.TLSSocket#getPeerCertificate() returns, reduced to the field read here. */
const peer = (subjectaltname?: string) => ({ subjectaltname }) as PeerCertificate;

describe('spiffeIdFromPeerCertificate', () => {
  it.each([
    ['a single URI SAN', `URI:${ID}`],
    ['a URI SAN next to DNS and IP SANs', `DNS:cart.shop.svc, URI:${ID}, IP Address:10.0.0.1`],
  ])('reads %s', (_name, san) => {
    expect(spiffeIdFromPeerCertificate(peer(san))).toBe(ID);
  });

  it.each([
    ['no certificate at all (getPeerCertificate() → {})', undefined],
    ['no SAN', ''],
    ['only DNS SANs', 'DNS:cart.shop.svc'],
    ['two URI SANs', `URI:${ID}, URI:spiffe://cluster.local/ns/shop/sa/admin`],
    ['a URI that is not a SPIFFE ID', 'URI:https://cart.shop.svc/'],
    ['a SPIFFE ID with a path other than /ns/*/sa/*', 'URI:spiffe://cluster.local/workload/cart'],
    // Node writes a value holding ", " as a JSON string; it must stay one (invalid) SAN, not two.
    ['a quoted URI that hides a second one', `URI:"spiffe://x/ns/a/sa/b, URI:${ID}"`],
  ])('refuses %s with AMBIT_PEER_IDENTITY', (_name, san) => {
    expect(() => spiffeIdFromPeerCertificate(peer(san))).toThrow(
      expect.objectContaining({ code: 'AMBIT_PEER_IDENTITY' }),
    );
  });

  it('reads a node:crypto X509Certificate issued by the CA', async () => {
    const pki = await createTestPki();
    const identity = await pki.issue('shop', 'cart');
    expect(spiffeIdFromPeerCertificate(new X509Certificate(identity.certChain))).toBe(ID);
  });
});

describe('parseSubjectAltName', () => {
  it.each([
    ['', []],
    [
      'DNS:a, URI:b',
      [
        { type: 'DNS', value: 'a' },
        { type: 'URI', value: 'b' },
      ],
    ],
    [
      'URI:"a, b", DNS:c',
      [
        { type: 'URI', value: 'a, b' },
        { type: 'DNS', value: 'c' },
      ],
    ],
    ['URI:"say \\"hi\\""', [{ type: 'URI', value: 'say "hi"' }]],
  ])('%j', (text, entries) => {
    expect(parseSubjectAltName(text)).toEqual(entries);
  });
});
