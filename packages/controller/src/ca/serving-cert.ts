// The controller's own serving certificate for :15012, issued from the mesh CA's material. The
// mesh CA (core identity/ca.ts) deliberately signs only workload SVIDs (one URI SAN, from a CSR);
// this narrow, controller-internal path signs the one certificate that needs DNS names: the
// controller's, with the Service's DNS names (ambit-controller.ambit-system.svc, …), optional IP
// SANs (127.0.0.1 for local use) and its SPIFFE ID as URI SAN, so a client may check either its
// name (ztunnel --controller <host>) or its identity (--controller-id).

import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { CaMaterial } from '@ambit/core/identity/ca';
import { generateP256KeyPair, privateKeyToPem } from '@ambit/core/identity/csr';
import { splitCertificates } from '@ambit/core/identity/pem';
import { x509 } from '@ambit/core/identity/x509';

export interface ServingCertRequest {
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  /** SPIFFE ID of the controller (a URI SAN). */
  uri?: string;
  /** Default 7 days; never beyond the CA certificate. */
  ttlMs?: number;
}

export interface ServingCert {
  /** PEM chain: leaf, then the intermediates up to (not including) the root. */
  cert: string;
  key: string;
  notAfter: Date;
}

async function importCaKey(
  pem: string,
): Promise<{ key: webcrypto.CryptoKey; alg: webcrypto.Algorithm | webcrypto.EcdsaParams }> {
  const object = createPrivateKey(pem);
  const der = object.export({ format: 'der', type: 'pkcs8' });
  const curve = object.asymmetricKeyDetails?.namedCurve;
  if (object.asymmetricKeyType === 'ec') {
    const p384 = curve === 'secp384r1';
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      der,
      { name: 'ECDSA', namedCurve: p384 ? 'P-384' : 'P-256' },
      false,
      ['sign'],
    );
    return {
      key,
      alg: { name: 'ECDSA', hash: p384 ? 'SHA-384' : 'SHA-256' } as webcrypto.EcdsaParams,
    };
  }
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { key: await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']), alg };
}

/** Signs a fresh P-256 key into a server+client certificate with the requested SANs. */
export async function issueServingCert(
  material: CaMaterial,
  req: ServingCertRequest,
): Promise<ServingCert> {
  const caCert = new x509.X509Certificate(material.caCertPem);
  const { key, alg } = await importCaKey(material.caKeyPem);
  const keys = await generateP256KeyPair();
  const now = Date.now();
  const wanted = new Date(now + (req.ttlMs ?? 7 * 24 * 3_600_000));
  const notAfter = wanted > caCert.notAfter ? caCert.notAfter : wanted;
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const names: x509.JsonGeneralName[] = [
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(req.uri !== undefined ? [{ type: 'url' as const, value: req.uri }] : []),
  ];
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: [{ CN: [req.dnsNames[0] ?? 'ambit-controller'] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now - 5 * 60_000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: key,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : []),
    ],
  });
  const hex = (pem: string) => Buffer.from(new x509.X509Certificate(pem).rawData).toString('hex');
  const caHex = Buffer.from(caCert.rawData).toString('hex');
  const rootHex = new Set(splitCertificates(material.rootCertPem).map(hex));
  const isRoot = rootHex.has(caHex);
  const between = splitCertificates(material.certChainPem ?? '').filter((p) => {
    const h = hex(p);
    return !rootHex.has(h) && h !== caHex;
  });
  const chain = isRoot ? [] : [caCert.toString('pem') + '\n', ...between];
  return {
    cert: leaf.toString('pem') + '\n' + chain.join(''),
    key: await privateKeyToPem(keys.privateKey),
    notAfter: leaf.notAfter,
  };
}
