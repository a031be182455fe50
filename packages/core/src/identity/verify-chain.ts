import { X509Certificate } from 'node:crypto';
import { CertChainError } from '../errors.ts';
import { splitCertificates } from './pem.ts';

function describe(cert: X509Certificate): string {
  const name = cert.subject?.replace(/\n/g, ', ') || cert.subjectAltName || '(empty subject)';
  return `"${name}" (serial ${cert.serialNumber})`;
}

function checkTime(cert: X509Certificate, at: Date): void {
  if (at < cert.validFromDate) {
    throw new CertChainError(
      `${describe(cert)} is not valid before ${cert.validFromDate.toISOString()} (now ${at.toISOString()}; check clocks)`,
    );
  }
  if (at > cert.validToDate) {
    throw new CertChainError(
      `${describe(cert)} expired at ${cert.validToDate.toISOString()} (now ${at.toISOString()})`,
    );
  }
}

/** True when `issuer` issued `cert`: names and key identifiers match, issuer may sign certificates, signature verifies. */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** Parses a PEM bundle of certificates with node:crypto; throws CertChainError naming `what` if it holds none or a bad one. */
export function parseCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = splitCertificates(pem);
  if (blocks.length === 0) throw new CertChainError(`${what} holds no PEM CERTIFICATE`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new CertChainError(`${what}: certificate #${i + 1} cannot be parsed`, { cause: err });
    }
  });
}

/** A self-signed CA certificate (a usable trust anchor). */
export function isSelfSignedCa(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

/**
 * Verifies `chain` (the certificate to check first, then its issuers in order) up to one of
 * `roots` at time `at`: every link's issuer is a CA that may sign certificates (keyCertSign when
 * keyUsage is present) and its signature verifies; every certificate, the root included, is
 * within its validity. A chain may end with the root itself, or with the certificate the root
 * issued. Returns the root it ends at; throws CertChainError otherwise.
 */
export function verifyChain(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  at: Date,
): X509Certificate {
  const first = chain[0];
  if (first === undefined) throw new CertChainError('empty certificate chain');
  const rootPrints = new Map(roots.map((r) => [r.fingerprint256, r]));
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    checkTime(cert, at);
    const isRoot = rootPrints.get(cert.fingerprint256);
    if (isRoot) return isRoot;
    const next = chain[i + 1];
    if (next !== undefined) {
      if (!issuedBy(cert, next)) {
        throw new CertChainError(
          `${describe(cert)} was not issued by the next certificate in the chain, ${describe(next)}` +
            (next.ca ? '' : ' (which is not a CA)'),
        );
      }
      continue;
    }
    const root = roots.find((r) => issuedBy(cert, r));
    if (!root) {
      throw new CertChainError(
        `${describe(cert)} was not issued by any of the ${roots.length} trusted root(s)`,
      );
    }
    checkTime(root, at);
    return root;
  }
  throw new CertChainError('unreachable: chain walk ended without a root');
}
