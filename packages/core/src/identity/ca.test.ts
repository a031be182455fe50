import { X509Certificate, webcrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, type CaMaterial } from './ca.ts';
import { createCsr } from './csr.ts';
import { buildTlsIdentity } from './issued-identity.ts';
import { formatSpiffeId } from './spiffe-id.ts';
import { x509 } from './x509.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const td = 'ca-test.local';
const id = formatSpiffeId({ trustDomain: td, namespace: 'shop', serviceAccount: 'cart' });

let material: CaMaterial;
let ca: CertificateAuthority;

beforeAll(async () => {
  material = await CertificateAuthority.createRoot({ trustDomain: td });
  ca = await CertificateAuthority.load(material, { trustDomain: td });
});

describe('CertificateAuthority.createRoot', () => {
  it('makes a self-signed P-256 CA root that is also the signing certificate', () => {
    expect(material.caCertPem).toBe(material.rootCertPem);
    const root = new X509Certificate(material.rootCertPem);
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root) && root.verify(root.publicKey)).toBe(true);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const ku = new x509.X509Certificate(material.rootCertPem).getExtension(x509.KeyUsagesExtension);
    expect((ku?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign).not.toBe(0);
    expect(material.caKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
  });
});

describe('CertificateAuthority.sign', () => {
  it('issues a leaf with exactly one URI SAN, CA:false, serverAuth+clientAuth, AKI/SKI', async () => {
    const { keyPem, csrPem } = await createCsr(id);
    const issued = await ca.sign({ csrPem, id });
    const tls = buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: issued.roots });
    expect(tls.id).toBe(id);

    const leaf = new X509Certificate(issued.leafPem);
    expect(leaf.subjectAltName).toBe(`URI:${id}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(leaf.serialNumber.toLowerCase()).toBe(issued.serialNumber);
    expect(issued.certChain).toBe(issued.leafPem); // self-signed mode: no intermediates
    expect(issued.roots).toBe(material.rootCertPem);

    const p = new x509.X509Certificate(issued.leafPem);
    expect(p.subject).toBe('');
    expect(p.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature,
    );
    expect(p.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(true);
    const rootSki = new x509.X509Certificate(material.rootCertPem).getExtension(
      x509.SubjectKeyIdentifierExtension,
    )?.keyId;
    expect(p.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(rootSki);
    expect(p.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  });

  it('backdates notBefore for clock skew and gives each leaf its own random serial', async () => {
    const before = Date.now();
    const a = await ca.sign({ ...(await createCsr(id)), id });
    const b = await ca.sign({ ...(await createCsr(id)), id });
    expect(a.notBefore.getTime()).toBeLessThanOrEqual(before - 4 * 60_000);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/); // positive, 16 octets
  });

  it.each([
    ['no TTL → default 24 h', {}, undefined, DAY],
    ['1 h', { ttlMs: HOUR }, undefined, HOUR],
    ['30 days → capped at the default max of 7 days', { ttlMs: 30 * DAY }, undefined, 7 * DAY],
    ['3 h with a configured max of 2 h', { ttlMs: 3 * HOUR }, 2 * HOUR, 2 * HOUR],
  ])('TTL: %s', async (_name, req, maxTtlMs, expected) => {
    const c = maxTtlMs
      ? await CertificateAuthority.load(material, { trustDomain: td, maxTtlMs })
      : ca;
    const now = Date.now();
    const issued = await c.sign({ ...(await createCsr(id)), id, ...req });
    // Certificates carry whole seconds; allow for that and for the time the test itself takes.
    expect(Math.abs(issued.notAfter.getTime() - (now + expected))).toBeLessThan(5_000);
  });

  it('never issues a leaf that outlives the CA certificate', async () => {
    const shortLived = await CertificateAuthority.createRoot({ trustDomain: td, ttlMs: 2 * HOUR });
    const c = await CertificateAuthority.load(shortLived, { trustDomain: td });
    const issued = await c.sign({ ...(await createCsr(id)), id, ttlMs: DAY });
    expect(issued.notAfter).toEqual(new X509Certificate(shortLived.caCertPem).validToDate);
  });

  it('adds keyEncipherment for an RSA key', async () => {
    const keys = await webcrypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    );
    const issued = await ca.sign({ csrPem: (await createCsr(id, keys)).csrPem, id });
    const ku = new x509.X509Certificate(issued.leafPem).getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
  });

  it('ignores the CSR subject and any extension other than the SAN (e.g. a CA:true request)', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=root-of-everything',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }]),
        new x509.BasicConstraintsExtension(true, undefined, true),
      ],
    });
    const issued = await ca.sign({ csrPem: csr.toString('pem'), id });
    const leaf = new X509Certificate(issued.leafPem);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toBeUndefined();
  });

  it.each([
    [
      'an identity outside the trust domain',
      {
        id: formatSpiffeId({
          trustDomain: 'other.local',
          namespace: 'shop',
          serviceAccount: 'cart',
        }),
      },
    ],
    ['a zero TTL', { ttlMs: 0 }],
    ['a NaN TTL', { ttlMs: Number.NaN }],
    [
      'a validity window longer than the max TTL',
      { validity: { notBefore: new Date(), notAfter: new Date(Date.now() + 8 * DAY) } },
    ],
    [
      'a validity window that ends before it starts',
      { validity: { notBefore: new Date(), notAfter: new Date(Date.now() - HOUR) } },
    ],
  ])('refuses %s with AMBIT_CA_BAD_REQUEST', async (_name, over) => {
    const { csrPem } = await createCsr(id);
    await expect(ca.sign({ csrPem, id, ...over })).rejects.toMatchObject({
      code: 'AMBIT_CA_BAD_REQUEST',
    });
  });

  it('passes CSR refusals through with their own code', async () => {
    const { csrPem } = await createCsr(
      formatSpiffeId({ trustDomain: td, namespace: 'kube-system', serviceAccount: 'admin' }),
    );
    await expect(ca.sign({ csrPem, id })).rejects.toMatchObject({
      code: 'AMBIT_CSR_IDENTITY_MISMATCH',
    });
    await expect(ca.sign({ csrPem: '-----BEGIN', id })).rejects.toMatchObject({
      code: 'AMBIT_CSR_MALFORMED',
    });
  });
});
