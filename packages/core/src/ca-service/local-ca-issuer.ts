// Development mode: the CA runs inside the process that needs certificates (ztunnel with a local
// config file). With a directory, the root is kept there so restarts keep trusting each other.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaMaterialError } from '../errors.ts';
import { CertificateAuthority, type CaMaterial } from '../identity/ca.ts';
import type { CertIssuer } from '../identity/cert-manager.ts';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';

export interface LocalCaIssuerOptions {
  trustDomain: string;
  /** Keep the CA here (ca-cert.pem, ca-key.pem, root-cert.pem, optional cert-chain.pem); created when empty. */
  dir?: string;
  /** Leaf lifetime (default the CA's, 24 h). */
  ttlMs?: number;
}

export interface LocalCaIssuer {
  ca: CertificateAuthority;
  /** The roots bundle workloads trust (also in `dir`/root-cert.pem). */
  rootCertPem: string;
  /** For CertManager: key + CSR → sign in-process → verified TlsIdentity. */
  issue: CertIssuer;
}

const FILES = ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem'] as const;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaMaterialError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes through a temporary file and a rename, so a crash never leaves half a PEM. */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

/** Loads the CA material in `dir`, or creates a self-signed root there when the directory holds none. */
async function loadOrCreate(dir: string, trustDomain: string): Promise<CaMaterial> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [caCertPem, caKeyPem, rootCertPem] = await Promise.all(
    FILES.map((f) => readOptional(join(dir, f))),
  );
  if (caCertPem !== undefined && caKeyPem !== undefined && rootCertPem !== undefined) {
    const certChainPem = await readOptional(join(dir, 'cert-chain.pem'));
    return { caCertPem, caKeyPem, rootCertPem, ...(certChainPem && { certChainPem }) };
  }
  if (caCertPem !== undefined || caKeyPem !== undefined || rootCertPem !== undefined) {
    throw new CaMaterialError(
      `${dir} holds only part of a CA (need ${FILES.join(', ')}); restore the missing files or empty the directory to make a new root`,
    );
  }
  const material = await CertificateAuthority.createRoot({ trustDomain });
  await writeAtomic(join(dir, 'ca-key.pem'), material.caKeyPem, 0o600);
  await writeAtomic(join(dir, 'root-cert.pem'), material.rootCertPem, 0o644);
  await writeAtomic(join(dir, 'ca-cert.pem'), material.caCertPem, 0o644);
  return material;
}

/** A CA in this process and the CertIssuer that uses it (development; production uses CaClient). */
export async function createLocalCaIssuer(opts: LocalCaIssuerOptions): Promise<LocalCaIssuer> {
  const material = opts.dir
    ? await loadOrCreate(opts.dir, opts.trustDomain)
    : await CertificateAuthority.createRoot({ trustDomain: opts.trustDomain });
  const ca = await CertificateAuthority.load(material, { trustDomain: opts.trustDomain });
  const ttlMs = opts.ttlMs;
  return {
    ca,
    rootCertPem: ca.roots,
    async issue(id) {
      const { keyPem, csrPem } = await createCsr(id);
      const issued = await ca.sign({ csrPem, id, ...(ttlMs !== undefined && { ttlMs }) });
      return buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: issued.roots });
    },
  };
}
