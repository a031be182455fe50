import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  CsrIdentityMismatchError,
  CsrMalformedError,
  CsrSignatureError,
  CsrWeakKeyError,
} from '../errors.ts';
import { pemBlocks } from './pem.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { x509 } from './x509.ts';

/** A CSR larger than this is refused before parsing (a P-256 CSR is ~400 bytes). */
export const MAX_CSR_BYTES = 64 * 1024;
const SAN_OID = '2.5.29.17';
const CSR_LABELS = new Set(['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

export type CsrKeyType = 'ec' | 'rsa';

export interface ValidatedCsr {
  /** The requester's public key, to put in the certificate. */
  publicKey: x509.PublicKey;
  keyType: CsrKeyType;
}

function parse(csrPem: unknown): x509.Pkcs10CertificateRequest {
  if (typeof csrPem !== 'string') throw new CsrMalformedError('CSR must be a PEM string');
  if (csrPem.length > MAX_CSR_BYTES) {
    throw new CsrMalformedError(`CSR is larger than ${MAX_CSR_BYTES} bytes`);
  }
  const blocks = pemBlocks(csrPem);
  if (blocks.length !== 1 || !CSR_LABELS.has(blocks[0]?.label ?? '')) {
    const labels = blocks.map((b) => b.label).join(', ') || 'none';
    throw new CsrMalformedError(
      `expected exactly one PEM "CERTIFICATE REQUEST" block, found: ${labels}`,
    );
  }
  try {
    const csr = new x509.Pkcs10CertificateRequest((blocks[0] as { der: Buffer }).der);
    // Touch the lazily decoded parts so malformed contents fail here, not later.
    void csr.publicKey.rawData;
    void csr.signatureAlgorithm;
    return csr;
  } catch (err) {
    throw new CsrMalformedError('CSR is not a decodable PKCS#10 request', { cause: err });
  }
}

function checkKey(csr: x509.Pkcs10CertificateRequest): CsrKeyType {
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: Buffer.from(csr.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
  } catch (err) {
    throw new CsrWeakKeyError('CSR public key is of an unknown or unreadable type', {
      cause: err,
    });
  }
  const details = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    if (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1') return 'ec';
    throw new CsrWeakKeyError(
      `CSR EC key on curve ${details.namedCurve ?? 'unknown'} refused; use P-256 (or P-384)`,
    );
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= 2048 && bits <= 8192) return 'rsa';
    throw new CsrWeakKeyError(
      `CSR RSA key of ${bits} bits refused; use ECDSA P-256 (or RSA 2048–8192)`,
    );
  }
  // Ed25519 and the rest are refused by decision, not weakness: one well-supported key family
  // (ECDSA, RSA for interop) keeps every TLS peer of the mesh able to verify every certificate.
  throw new CsrWeakKeyError(
    `CSR key type ${type ?? 'unknown'} refused; use ECDSA P-256 (or P-384, RSA ≥ 2048)`,
  );
}

async function checkSignature(csr: x509.Pkcs10CertificateRequest): Promise<void> {
  const hash = (csr.signatureAlgorithm as { hash?: { name?: string } }).hash?.name;
  if (hash === undefined || !STRONG_HASHES.has(hash)) {
    throw new CsrSignatureError(
      `CSR is signed with ${(csr.signatureAlgorithm as { name?: string }).name ?? '?'}/${hash ?? 'no hash'}; SHA-256 or better required`,
    );
  }
  let ok: boolean;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw new CsrSignatureError('CSR signature cannot be verified', { cause: err });
  }
  if (!ok) {
    throw new CsrSignatureError('CSR signature does not verify with its own public key');
  }
}

function checkIdentity(csr: x509.Pkcs10CertificateRequest, entitled: SpiffeId): void {
  let sanExts: x509.Extension[];
  try {
    sanExts = csr.getExtensions(SAN_OID);
  } catch (err) {
    throw new CsrMalformedError('CSR extension request cannot be decoded', { cause: err });
  }
  if (sanExts.length === 0) {
    throw new CsrIdentityMismatchError(
      `CSR asks for no identity; it must carry exactly one URI SAN ${entitled}`,
    );
  }
  if (sanExts.length > 1) {
    throw new CsrIdentityMismatchError('CSR holds several subjectAltName extensions');
  }
  let names: readonly x509.GeneralName[];
  try {
    names = new x509.SubjectAlternativeNameExtension((sanExts[0] as x509.Extension).rawData).names
      .items;
  } catch (err) {
    throw new CsrIdentityMismatchError(
      'CSR asks for a SAN of a type the CA never issues (otherName, X.400, EDI)',
      { cause: err },
    );
  }
  const asked = names.map((n) => `${n.type}:${n.value}`).join(', ');
  const only = names[0];
  if (names.length !== 1 || only === undefined || only.type !== 'url' || only.value !== entitled) {
    throw new CsrIdentityMismatchError(
      `CSR asks for [${asked}]; the requester is entitled to exactly one URI SAN ${entitled}`,
    );
  }
}

/**
 * Decides whether the CA may sign `csrPem` for `entitled`, the one SPIFFE ID the (already
 * authenticated) requester may hold. In order: it must parse (AMBIT_CSR_MALFORMED), hold an
 * acceptable key (AMBIT_CSR_WEAK_KEY), carry a valid SHA-2 self-signature
 * (AMBIT_CSR_INVALID_SIGNATURE), and ask for exactly one SAN, the URI `entitled`
 * (AMBIT_CSR_IDENTITY_MISMATCH). The CSR's subject and other requested extensions are ignored:
 * the CA never copies them into the certificate.
 */
export async function validateCsr(csrPem: string, entitled: SpiffeId): Promise<ValidatedCsr> {
  const csr = parse(csrPem);
  const keyType = checkKey(csr);
  await checkSignature(csr);
  checkIdentity(csr, entitled);
  return { publicKey: csr.publicKey, keyType };
}
