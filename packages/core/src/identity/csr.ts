import { webcrypto } from 'node:crypto';
import { toPem } from './pem.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { P256_SHA256, x509, type CryptoKey, type CryptoKeyPair } from './x509.ts';

export interface KeyAndCsr {
  /** PKCS#8 PEM private key (ECDSA P-256). Never leaves the node. */
  keyPem: string;
  /** PEM PKCS#10 request: empty subject, one critical URI SAN `id`, signed with the key. */
  csrPem: string;
}

/** A fresh, extractable ECDSA P-256 key pair (WebCrypto). */
export async function generateP256KeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(P256_SHA256, true, ['sign', 'verify']);
}

/** Exports a WebCrypto private key as PKCS#8 PEM. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/** Generates a key (unless given one) and a CSR asking for exactly the identity `id`. */
export async function createCsr(id: SpiffeId, keys?: CryptoKeyPair): Promise<KeyAndCsr> {
  const pair = keys ?? (await generateP256KeyPair());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: pair,
    signingAlgorithm: P256_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }], true)],
  });
  return { keyPem: await privateKeyToPem(pair.privateKey), csrPem: csr.toString('pem') + '\n' };
}
