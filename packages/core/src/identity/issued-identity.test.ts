import { beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { CertificateAuthority } from './ca.ts';
import { createCsr } from './csr.ts';
import { buildTlsIdentity, type IssuedMaterial } from './issued-identity.ts';
import { formatSpiffeId } from './spiffe-id.ts';

const id = formatSpiffeId({
  trustDomain: 'cluster.local',
  namespace: 'shop',
  serviceAccount: 'cart',
});
const DAY = 86_400_000;

let pki: TestPki;
let good: IssuedMaterial;
let otherRoots: string;

beforeAll(async () => {
  pki = await createTestPki();
  const { keyPem, csrPem } = await createCsr(id);
  const issued = await pki.ca.sign({ csrPem, id });
  good = { id, keyPem, certChain: issued.certChain, roots: issued.roots };
  otherRoots = (await CertificateAuthority.createRoot({ trustDomain: 'cluster.local' }))
    .rootCertPem;
});

describe('buildTlsIdentity', () => {
  it('returns the TlsIdentity of a verified chain', () => {
    const tls = buildTlsIdentity(good);
    expect(tls).toMatchObject({ id, key: good.keyPem, roots: pki.rootCertPem });
    expect(tls.certChain).toBe(good.certChain);
    expect(tls.notAfter.getTime() - tls.notBefore.getTime()).toBeGreaterThan(DAY - 1);
  });

  it.each<[string, () => Promise<Partial<IssuedMaterial>> | Partial<IssuedMaterial>, RegExp]>([
    [
      'a leaf for another identity than requested',
      () => ({
        id: formatSpiffeId({
          trustDomain: 'cluster.local',
          namespace: 'shop',
          serviceAccount: 'x',
        }),
      }),
      /not exactly the requested identity/,
    ],
    [
      'a leaf for another key',
      async () => ({ keyPem: (await createCsr(id)).keyPem }),
      /does not match our private key/,
    ],
    ['roots that did not issue it', () => ({ roots: otherRoots }), /not issued by any/],
    ['a check after it expired', () => ({ at: new Date(Date.now() + 2 * DAY) }), /expired at/],
    ['a check before it is valid', () => ({ at: new Date(Date.now() - DAY) }), /not valid before/],
    ['an empty chain', () => ({ certChain: '' }), /holds no PEM CERTIFICATE/],
    ['a CA as the leaf', () => ({ certChain: pki.rootCertPem }), /is a CA/],
  ])('refuses %s with AMBIT_CERT_CHAIN_INVALID', async (_name, change, why) => {
    const m = { ...good, ...(await change()) };
    let err: unknown;
    try {
      buildTlsIdentity(m);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'AMBIT_CERT_CHAIN_INVALID' });
    expect((err as Error).message).toMatch(why);
  });
});
