// The development CA: issues verified identities in-process, and with a directory keeps its root
// across restarts so certificates from before and after still trust each other.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertManager } from '../identity/cert-manager.ts';
import { parseCertificates, verifyChain } from '../identity/verify-chain.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { createLocalCaIssuer } from './local-ca-issuer.ts';

const ALICE = 'spiffe://dev.local/ns/shop/sa/alice' as SpiffeId;
const BOB = 'spiffe://dev.local/ns/shop/sa/bob' as SpiffeId;

let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ambit-local-ca-'));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('createLocalCaIssuer', () => {
  it('issues identities through a CertManager, with the requested TTL', async () => {
    const local = await createLocalCaIssuer({ trustDomain: 'dev.local', ttlMs: 3_600_000 });
    const certs = new CertManager({ issuer: local.issue });
    try {
      const alice = await certs.get(ALICE);
      expect(alice.id).toBe(ALICE);
      expect(alice.roots).toBe(local.rootCertPem);
      // notBefore is backdated by the CA's 5 min clock skew.
      expect(alice.notAfter.getTime() - alice.notBefore.getTime()).toBe(3_900_000);
      expect(certs.snapshot()).toMatchObject([{ id: ALICE, state: 'valid' }]);
    } finally {
      certs.close();
    }
  });

  it('keeps the root in its directory so a restart trusts earlier certificates', async () => {
    const dir = join(base, 'ca');
    const first = await createLocalCaIssuer({ trustDomain: 'dev.local', dir });
    const alice = await first.issue(ALICE);
    expect((await stat(join(dir, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'root-cert.pem'), 'utf8')).toBe(first.rootCertPem);

    const restarted = await createLocalCaIssuer({ trustDomain: 'dev.local', dir });
    expect(restarted.rootCertPem).toBe(first.rootCertPem);
    const bob = await restarted.issue(BOB);
    // Each leaf verifies against the other's roots bundle.
    const roots = parseCertificates(bob.roots, 'roots');
    expect(() =>
      verifyChain(parseCertificates(alice.certChain, 'chain'), roots, new Date()),
    ).not.toThrow();

    const fresh = await createLocalCaIssuer({ trustDomain: 'dev.local', dir: join(base, 'other') });
    expect(new X509Certificate(fresh.rootCertPem).fingerprint256).not.toBe(
      new X509Certificate(first.rootCertPem).fingerprint256,
    );
  });

  it('refuses a directory holding only part of a CA instead of replacing it', async () => {
    const dir = join(base, 'partial');
    await createLocalCaIssuer({ trustDomain: 'dev.local', dir });
    await unlink(join(dir, 'ca-key.pem'));
    await expect(createLocalCaIssuer({ trustDomain: 'dev.local', dir })).rejects.toMatchObject({
      code: 'AMBIT_CA_INVALID',
    });
    // Nothing was overwritten.
    await expect(stat(join(dir, 'ca-key.pem'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
