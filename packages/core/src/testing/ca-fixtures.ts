// Test-only: CA certificates of every shape (intermediates, non-CAs, expired, no keyCertSign), to
// exercise CertificateAuthority.load the way an operator's or cert-manager's files would.
import { randomBytes, webcrypto } from 'node:crypto';
import { generateP256KeyPair, privateKeyToPem } from '../identity/csr.ts';
import { pemBlocks } from '../identity/pem.ts';
import { P256_SHA256, x509 } from '../identity/x509.ts';

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

export interface FixtureOptions {
  /** Subject common name. */
  name: string;
  /** Signer; omit for a self-signed certificate. */
  issuer?: CertAndKey;
  /** basicConstraints CA flag (default true). */
  ca?: boolean;
  pathLength?: number;
  /** keyUsage flags (default keyCertSign | cRLSign | digitalSignature). */
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
}

const DAY = 86_400_000;

/** Creates a P-256 certificate per `opts`, signed by `opts.issuer` (or itself). */
export async function makeCaCert(opts: FixtureOptions): Promise<CertAndKey> {
  const keys = await generateP256KeyPair();
  const signingKey = opts.issuer
    ? await webcrypto.subtle.importKey(
        'pkcs8',
        pemBlocks(opts.issuer.keyPem)[0]?.der ?? new Uint8Array(),
        { name: 'ECDSA', namedCurve: 'P-256' },
        false,
        ['sign'],
      )
    : keys.privateKey;
  const issuerName = opts.issuer
    ? new x509.X509Certificate(opts.issuer.certPem).subjectName
    : `CN=${opts.name}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + randomBytes(8).toString('hex'),
    subject: `CN=${opts.name}`,
    issuer: issuerName,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: P256_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(opts.ca ?? true, opts.pathLength, true),
      new x509.KeyUsagesExtension(
        opts.keyUsage ??
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign |
            x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(opts.issuer
        ? [
            await x509.AuthorityKeyIdentifierExtension.create(
              new x509.X509Certificate(opts.issuer.certPem).publicKey,
            ),
          ]
        : []),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyToPem(keys.privateKey) };
}
