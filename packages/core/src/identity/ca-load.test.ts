import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCaCert, type CertAndKey } from '../testing/ca-fixtures.ts';
import { CertificateAuthority, type CaMaterial } from './ca.ts';
import { createCsr } from './csr.ts';
import { buildTlsIdentity } from './issued-identity.ts';
import { splitCertificates } from './pem.ts';
import { formatSpiffeId } from './spiffe-id.ts';
import { x509 } from './x509.ts';

const td = 'load-test.local';
const id = formatSpiffeId({ trustDomain: td, namespace: 'shop', serviceAccount: 'cart' });
const DAY = 86_400_000;

let root: CertAndKey;
let otherRoot: CertAndKey;
let inter: CertAndKey;

beforeAll(async () => {
  root = await makeCaCert({ name: 'Operator Root' });
  otherRoot = await makeCaCert({ name: 'Someone Else Root' });
  inter = await makeCaCert({ name: 'Ambit Intermediate', issuer: root });
});

const plugged = (ca: CertAndKey, chain: string, roots: string): CaMaterial => ({
  caCertPem: ca.certPem,
  caKeyPem: ca.keyPem,
  certChainPem: chain,
  rootCertPem: roots,
});

/** Loads, signs one CSR and verifies the result the way a workload would. */
async function issueThrough(material: CaMaterial) {
  const ca = await CertificateAuthority.load(material, { trustDomain: td });
  const { keyPem, csrPem } = await createCsr(id);
  const issued = await ca.sign({ csrPem, id });
  const tls = buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: issued.roots });
  return { issued, tls };
}

describe('CertificateAuthority.load with an operator intermediate', () => {
  it.each([
    ['cert-chain.pem empty', () => ''],
    [
      'cert-chain.pem = ca-cert + root (Istio plugged-in style)',
      () => inter.certPem + root.certPem,
    ],
    ['cert-chain.pem = root only', () => root.certPem],
  ])('signs leaves that chain leaf → intermediate → root (%s)', async (_name, chain) => {
    const { issued, tls } = await issueThrough(plugged(inter, chain(), root.certPem));
    const certs = splitCertificates(tls.certChain);
    expect(certs).toHaveLength(2);
    expect(new X509Certificate(certs[1] ?? '').fingerprint256).toBe(
      new X509Certificate(inter.certPem).fingerprint256,
    );
    const aki = new x509.X509Certificate(issued.leafPem).getExtension(
      x509.AuthorityKeyIdentifierExtension,
    )?.keyId;
    const ski = new x509.X509Certificate(inter.certPem).getExtension(
      x509.SubjectKeyIdentifierExtension,
    )?.keyId;
    expect(aki).toBe(ski);
  });

  it('handles two levels of intermediates and hands both to workloads', async () => {
    const lower = await makeCaCert({ name: 'Ambit Issuing CA', issuer: inter });
    const { tls } = await issueThrough(
      plugged(lower, lower.certPem + inter.certPem + root.certPem, root.certPem),
    );
    expect(splitCertificates(tls.certChain)).toHaveLength(3);
  });

  it('works with a multi-root bundle where the intermediate chains to the second root', async () => {
    const { tls } = await issueThrough(plugged(inter, '', otherRoot.certPem + root.certPem));
    expect(splitCertificates(tls.roots)).toHaveLength(2);
  });

  it('accepts a SEC1 "EC PRIVATE KEY" as cert-manager writes it', async () => {
    const sec1 = createPrivateKey(inter.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    await issueThrough({ ...plugged(inter, '', root.certPem), caKeyPem: sec1 });
  });

  const refusals: [string, () => Promise<CaMaterial> | CaMaterial, RegExp][] = [
    [
      'an intermediate not signed by any root in the bundle',
      () => plugged(inter, '', otherRoot.certPem),
      /not issued by any of the 1 trusted root/,
    ],
    [
      'a non-CA certificate as ca-cert.pem',
      async () =>
        plugged(await makeCaCert({ name: 'Leafy', issuer: root, ca: false }), '', root.certPem),
      /is not a CA/,
    ],
    [
      'a CA certificate without keyCertSign',
      async () =>
        plugged(
          await makeCaCert({
            name: 'No Sign',
            issuer: root,
            keyUsage: x509.KeyUsageFlags.digitalSignature,
          }),
          '',
          root.certPem,
        ),
      /no keyCertSign/,
    ],
    [
      'a key that does not match ca-cert.pem',
      () => ({ ...plugged(inter, '', root.certPem), caKeyPem: otherRoot.keyPem }),
      /does not match/,
    ],
    [
      'an expired intermediate',
      async () =>
        plugged(
          await makeCaCert({
            name: 'Old',
            issuer: root,
            notBefore: new Date(Date.now() - 10 * DAY),
            notAfter: new Date(Date.now() - DAY),
          }),
          '',
          root.certPem,
        ),
      /expired at/,
    ],
    [
      'a root whose pathLen 0 forbids intermediates',
      async () => {
        const strictRoot = await makeCaCert({ name: 'Strict Root', pathLength: 0 });
        return plugged(
          await makeCaCert({ name: 'Sub', issuer: strictRoot }),
          '',
          strictRoot.certPem,
        );
      },
      /allows 0 intermediate/,
    ],
    [
      'a second-level intermediate whose middle link is missing from cert-chain.pem',
      async () => plugged(await makeCaCert({ name: 'Lower', issuer: inter }), '', root.certPem),
      /not issued by any/,
    ],
    [
      'an intermediate in root-cert.pem instead of a root',
      () => plugged(inter, '', inter.certPem),
      /not a self-signed CA/,
    ],
    [
      'garbage ca-cert.pem',
      () => ({ ...plugged(inter, '', root.certPem), caCertPem: 'nope' }),
      /ca-cert.pem holds no PEM CERTIFICATE/,
    ],
    [
      'garbage ca-key.pem',
      () => ({
        ...plugged(inter, '', root.certPem),
        caKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      }),
      /ca-key.pem is not a readable/,
    ],
    [
      'an empty root-cert.pem',
      () => plugged(inter, '', ''),
      /root-cert.pem holds no PEM CERTIFICATE/,
    ],
    [
      'two certificates in ca-cert.pem',
      () => ({
        ...plugged(inter, '', root.certPem),
        caCertPem: inter.certPem + root.certPem,
      }),
      /holds 2 certificates/,
    ],
  ];

  it.each(refusals)('refuses %s with AMBIT_CA_INVALID', async (_name, make, why) => {
    const err = await CertificateAuthority.load(await make(), { trustDomain: td }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'AMBIT_CA_INVALID' });
    expect((err as Error).message).toMatch(why);
  });
});

describe('root rotation with a self-signed root', () => {
  it('a bundle of new + old roots verifies leaves from both CAs', async () => {
    const oldMat = await CertificateAuthority.createRoot({ trustDomain: td });
    const newMat = await CertificateAuthority.createRoot({ trustDomain: td });
    const bundle = newMat.rootCertPem + oldMat.rootCertPem;
    const oldCa = await CertificateAuthority.load(oldMat, { trustDomain: td });
    const newCa = await CertificateAuthority.load(
      { ...newMat, rootCertPem: bundle },
      { trustDomain: td },
    );
    expect(newCa.roots).toBe(bundle);
    for (const ca of [oldCa, newCa]) {
      const { keyPem, csrPem } = await createCsr(id);
      const issued = await ca.sign({ csrPem, id });
      expect(() =>
        buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: bundle }),
      ).not.toThrow();
    }
  });
});
