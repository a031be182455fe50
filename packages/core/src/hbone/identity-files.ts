// An identity kept as PEM files (the HBONE tools: benchmark tunnel pair, demo). Reading them needs
// only node:crypto: nothing here pulls in the CA code (@peculiar/x509), which stays off the data
// path's import graph (see dev-identities.ts for issuing).
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';

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
