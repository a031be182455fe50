import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsr, generateP256KeyPair } from './csr.ts';
import { pemBlocks, toPem } from './pem.ts';
import { formatSpiffeId } from './spiffe-id.ts';
import { validateCsr } from './validate-csr.ts';
import { x509, type CryptoKeyPair } from './x509.ts';

const id = formatSpiffeId({
  trustDomain: 'cluster.local',
  namespace: 'shop',
  serviceAccount: 'cart',
});
const other = formatSpiffeId({
  trustDomain: 'cluster.local',
  namespace: 'shop',
  serviceAccount: 'admin',
});

type Names = { type: 'url' | 'dns' | 'ip' | 'email'; value: string }[];

async function csrWith(
  names: Names | null,
  opts: { keys?: CryptoKeyPair; alg?: object } = {},
): Promise<string> {
  const keys = opts.keys ?? (await generateP256KeyPair());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: (opts.alg ?? { name: 'ECDSA', hash: 'SHA-256' }) as never,
    ...(names && { extensions: [new x509.SubjectAlternativeNameExtension(names, true)] }),
  });
  return csr.toString('pem');
}

const gen = (alg: object) => webcrypto.subtle.generateKey(alg as never, true, ['sign', 'verify']);
const rsa = (bits: number) =>
  gen({
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: bits,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  });
const RSA_ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

/** Re-encodes the CSR's DER after `edit` (tampering a signed request). */
function tamper(pem: string, edit: (der: Buffer) => void): string {
  const der = Buffer.from(pemBlocks(pem)[0]?.der ?? []);
  edit(der);
  return toPem('CERTIFICATE REQUEST', der);
}

describe('validateCsr', () => {
  it('accepts the CSR createCsr makes, and returns its key', async () => {
    const { csrPem } = await createCsr(id);
    const v = await validateCsr(csrPem, id);
    expect(v.keyType).toBe('ec');
    expect(v.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
  });

  it.each([
    [
      'P-384',
      () => gen({ name: 'ECDSA', namedCurve: 'P-384' }),
      { name: 'ECDSA', hash: 'SHA-384' },
      'ec',
    ],
    ['RSA-2048', () => rsa(2048), RSA_ALG, 'rsa'],
  ])('accepts a %s key', async (_name, keys, alg, keyType) => {
    const pem = await csrWith([{ type: 'url', value: id }], { keys: await keys(), alg });
    expect((await validateCsr(pem, id)).keyType).toBe(keyType);
  });

  const refusals: [string, () => unknown, string][] = [
    ['garbage text', () => 'hello, CA', 'AMBIT_CSR_MALFORMED'],
    ['empty string', () => '', 'AMBIT_CSR_MALFORMED'],
    ['not a string', () => 42, 'AMBIT_CSR_MALFORMED'],
    [
      'a PEM block with the wrong label',
      async () => (await createCsr(id)).csrPem.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'),
      'AMBIT_CSR_MALFORMED',
    ],
    [
      'a PEM block of random bytes',
      () => toPem('CERTIFICATE REQUEST', webcrypto.getRandomValues(new Uint8Array(200))),
      'AMBIT_CSR_MALFORMED',
    ],
    [
      'truncated DER',
      async () => {
        const der = pemBlocks((await createCsr(id)).csrPem)[0]?.der ?? Buffer.alloc(0);
        return toPem('CERTIFICATE REQUEST', der.subarray(0, 60));
      },
      'AMBIT_CSR_MALFORMED',
    ],
    [
      'two CSRs in one PEM',
      async () => (await createCsr(id)).csrPem + (await createCsr(id)).csrPem,
      'AMBIT_CSR_MALFORMED',
    ],
    ['over 64 KiB', () => 'x'.repeat(70_000), 'AMBIT_CSR_MALFORMED'],
    [
      'tampered signature bytes',
      async () =>
        tamper((await createCsr(id)).csrPem, (der) => {
          der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
        }),
      'AMBIT_CSR_INVALID_SIGNATURE',
    ],
    [
      'an identity swapped in after signing',
      async () =>
        tamper((await createCsr(id)).csrPem, (der) => {
          const at = der.indexOf('sa/cart');
          der.write('sa/carT', at);
        }),
      'AMBIT_CSR_INVALID_SIGNATURE',
    ],
    [
      'a SHA-1 signature',
      () => csrWith([{ type: 'url', value: id }], { alg: { name: 'ECDSA', hash: 'SHA-1' } }),
      'AMBIT_CSR_INVALID_SIGNATURE',
    ],
    [
      'an extra DNS SAN',
      () =>
        csrWith([
          { type: 'url', value: id },
          { type: 'dns', value: 'cart.shop.svc' },
        ]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'an extra IP SAN',
      () =>
        csrWith([
          { type: 'url', value: id },
          { type: 'ip', value: '10.0.0.1' },
        ]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'an extra email SAN',
      () =>
        csrWith([
          { type: 'url', value: id },
          { type: 'email', value: 'a@b.c' },
        ]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'two URIs (the entitled one and another)',
      () =>
        csrWith([
          { type: 'url', value: id },
          { type: 'url', value: other },
        ]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'a different URI',
      () => csrWith([{ type: 'url', value: other }]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'the same identity in another trust domain',
      () => csrWith([{ type: 'url', value: id.replace('cluster.local', 'evil.local') }]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    [
      'only a DNS SAN',
      () => csrWith([{ type: 'dns', value: 'cart' }]),
      'AMBIT_CSR_IDENTITY_MISMATCH',
    ],
    ['no SAN at all', () => csrWith(null), 'AMBIT_CSR_IDENTITY_MISMATCH'],
    [
      'an RSA-1024 key',
      async () => csrWith([{ type: 'url', value: id }], { keys: await rsa(1024), alg: RSA_ALG }),
      'AMBIT_CSR_WEAK_KEY',
    ],
    [
      'an EC P-521 key',
      async () =>
        csrWith([{ type: 'url', value: id }], {
          keys: await gen({ name: 'ECDSA', namedCurve: 'P-521' }),
          alg: { name: 'ECDSA', hash: 'SHA-512' },
        }),
      'AMBIT_CSR_WEAK_KEY',
    ],
    [
      'an Ed25519 key',
      async () =>
        csrWith([{ type: 'url', value: id }], {
          keys: await gen({ name: 'Ed25519' }),
          alg: { name: 'Ed25519' },
        }),
      'AMBIT_CSR_WEAK_KEY',
    ],
  ];

  it.each(refusals)('refuses %s', async (_name, make, code) => {
    const input = (await make()) as string;
    await expect(validateCsr(input, id)).rejects.toMatchObject({ code });
  });
});
