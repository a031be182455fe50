import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CertChainError } from '../errors.ts';
import type { SpiffeId } from './spiffe-id.ts';
import type { TlsIdentity } from './tls-identity.ts';
import { uriSans } from './uri-sans.ts';
import { parseCertificates, verifyChain } from './verify-chain.ts';

export interface IssuedMaterial {
  /** The identity that was asked for. */
  id: SpiffeId;
  /** Our PKCS#8 PEM private key (the one the CSR was made with). */
  keyPem: string;
  /** What the CA returned: leaf first, then intermediates. */
  certChain: string;
  /** The trusted roots bundle. */
  roots: string;
  /** Verification time; default now. */
  at?: Date;
}

/**
 * Checks what the CA returned before using it, and makes the TlsIdentity: the leaf is not a CA,
 * carries exactly one URI SAN equal to `id`, matches our private key, and chains through the
 * intermediates to one of the roots, every certificate valid at `at`. Throws CertChainError
 * (AMBIT_CERT_CHAIN_INVALID).
 */
export function buildTlsIdentity(m: IssuedMaterial): TlsIdentity {
  const chain = parseCertificates(m.certChain, 'certificate chain');
  const roots = parseCertificates(m.roots, 'roots bundle');
  const leaf = chain[0];
  if (leaf === undefined) throw new CertChainError('certificate chain is empty');
  if (leaf.ca) throw new CertChainError('leaf certificate is a CA (CA:true)');
  const uris = uriSans(leaf.subjectAltName);
  if (uris.length !== 1 || uris[0] !== m.id) {
    throw new CertChainError(
      `leaf URI SANs [${uris.join(', ')}] are not exactly the requested identity ${m.id}`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(m.keyPem);
  } catch (err) {
    throw new CertChainError('private key is not readable PEM', { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertChainError('leaf certificate does not match our private key');
  }
  verifyChain(chain, roots, m.at ?? new Date());
  return {
    id: m.id,
    key: m.keyPem,
    certChain: chain.map((c) => c.toString()).join(''),
    roots: roots.map((r) => r.toString()).join(''),
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
  };
}
