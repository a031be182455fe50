// Test-only PKI used by every test suite: a real CertificateAuthority with a self-signed root,
// cached per trust domain per process, issuing real identities through the real CSR path.
import { CertificateAuthority } from '../identity/ca.ts';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
import { formatSpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';

const YEAR = 365 * 24 * 3_600_000;

export interface TestPki {
  trustDomain: string;
  rootCertPem: string;
  /** Issue a leaf for ns/sa signed by this test CA. opts lets tests make expired, not-yet-valid ones. */
  issue(
    ns: string,
    sa: string,
    opts?: { ttlMs?: number; notBefore?: Date; notAfter?: Date },
  ): Promise<TlsIdentity>;
  /** The CA itself, for tests that sign CSRs directly. */
  ca: CertificateAuthority;
}

const cache = new Map<string, Promise<TestPki>>();

async function build(trustDomain: string): Promise<TestPki> {
  // The root is backdated a year so tests can issue leaves that are already expired.
  const material = await CertificateAuthority.createRoot({
    trustDomain,
    notBefore: new Date(Date.now() - YEAR),
    ttlMs: 20 * YEAR,
  });
  const ca = await CertificateAuthority.load(material, { trustDomain, maxTtlMs: 5 * YEAR });
  return {
    trustDomain,
    rootCertPem: material.rootCertPem,
    ca,
    async issue(ns, sa, opts = {}) {
      const id = formatSpiffeId({ trustDomain, namespace: ns, serviceAccount: sa });
      const { keyPem, csrPem } = await createCsr(id);
      const explicit = opts.notBefore !== undefined || opts.notAfter !== undefined;
      const ttl = opts.ttlMs ?? 24 * 3_600_000;
      let validity: { notBefore: Date; notAfter: Date } | undefined;
      if (explicit) {
        const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
        validity = { notBefore, notAfter: opts.notAfter ?? new Date(notBefore.getTime() + ttl) };
      }
      const issued = await ca.sign({ csrPem, id, ttlMs: ttl, ...(validity && { validity }) });
      // Verify at the middle of the leaf's window so expired and future leaves can be made too.
      const at = new Date((issued.notBefore.getTime() + issued.notAfter.getTime()) / 2);
      return buildTlsIdentity({ id, keyPem, certChain: issued.certChain, roots: issued.roots, at });
    },
  };
}

/** A test CA for `trustDomain` (default cluster.local); one per trust domain per process. */
export function createTestPki(trustDomain = 'cluster.local'): Promise<TestPki> {
  let pki = cache.get(trustDomain);
  if (!pki) {
    pki = build(trustDomain);
    cache.set(trustDomain, pki);
  }
  return pki;
}
