// Development identities for the HBONE tools (demo, benchmark tunnel pair): a local CA made with the
// real CA code, and identities issued through the real CSR path, optionally kept as PEM files.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateAuthority } from '../identity/ca.ts';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import { formatSpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';

export interface DevCa {
  trustDomain: string;
  rootCertPem: string;
  issue(namespace: string, serviceAccount: string): Promise<TlsIdentity>;
}

/** A fresh self-signed root and CA for `trustDomain`; identities live 24 h. */
export async function createDevCa(trustDomain = 'cluster.local'): Promise<DevCa> {
  const material = await CertificateAuthority.createRoot({ trustDomain });
  const ca = await CertificateAuthority.load(material, { trustDomain });
  return {
    trustDomain,
    rootCertPem: material.rootCertPem,
    async issue(namespace, serviceAccount) {
      const id = formatSpiffeId({ trustDomain, namespace, serviceAccount });
      const { keyPem, csrPem } = await createCsr(id);
      const issued = await ca.sign({ csrPem, id });
      return buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: issued.roots });
    },
  };
}

/** Writes `<name>-key.pem`, `<name>-chain.pem` and `root-cert.pem` into `dir`. */
export async function writeIdentityFiles(
  dir: string,
  name: string,
  id: TlsIdentity,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}-key.pem`), id.key, { mode: 0o600 });
  await writeFile(join(dir, `${name}-chain.pem`), id.certChain);
  await writeFile(join(dir, 'root-cert.pem'), id.roots);
}

/** Reads what writeIdentityFiles wrote; the SPIFFE ID comes from the leaf, the chain is verified. */
export async function readIdentityFiles(dir: string, name: string): Promise<TlsIdentity> {
  const [keyPem, certChain, roots] = await Promise.all([
    readFile(join(dir, `${name}-key.pem`), 'utf8'),
    readFile(join(dir, `${name}-chain.pem`), 'utf8'),
    readFile(join(dir, 'root-cert.pem'), 'utf8'),
  ]);
  const id = spiffeIdFromPeerCertificate(new X509Certificate(certChain));
  return buildTlsIdentity({ id, keyPem, certChain, roots });
}
