// Development identities for the HBONE tools (demo, benchmark tunnel pair): a local CA made with the
// real CA code, and identities issued through the real CSR path. This imports @peculiar/x509 (via
// the CA): load it only where certificates are issued, never on a data path (PEM files: identity-files.ts).
import { CertificateAuthority } from '../identity/ca.ts';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
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
