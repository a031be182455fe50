// Real TLS 1.3 handshakes on 127.0.0.1 between identities issued by the CA: both sides require and
// verify the other's certificate, then read the peer's SPIFFE ID from it.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { CertificateAuthority } from './ca.ts';
import { createCsr } from './csr.ts';
import { buildTlsIdentity } from './issued-identity.ts';
import { spiffeIdFromPeerCertificate } from './peer-identity.ts';
import type { SpiffeId } from './spiffe-id.ts';
import type { TlsIdentity } from './tls-identity.ts';

const DAY = 86_400_000;

interface Outcome {
  serverSawClient?: SpiffeId;
  clientSawServer?: SpiffeId;
  clientReceived: string;
  serverError?: Error;
  clientError?: Error;
}

/** One mutual-TLS connection: resolves once both ends have settled (connected or refused). */
async function handshake(server: TlsIdentity, client: TlsIdentity): Promise<Outcome> {
  const out: Outcome = { clientReceived: '' };
  const srv = tls.createServer({
    key: server.key,
    cert: server.certChain,
    ca: server.roots,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  const serverSettled = new Promise<void>((resolve) => {
    srv.on('secureConnection', (socket) => {
      out.serverSawClient = spiffeIdFromPeerCertificate(socket.getPeerX509Certificate()!);
      socket.end('ok');
      resolve();
    });
    srv.on('tlsClientError', (err) => {
      out.serverError = err;
      resolve();
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const sock = tls.connect({
      host: '127.0.0.1',
      port: (srv.address() as AddressInfo).port,
      key: client.key,
      cert: client.certChain,
      ca: client.roots,
      minVersion: 'TLSv1.3',
      // Workload certificates carry no DNS name: identity is checked by SPIFFE ID below.
      checkServerIdentity: () => undefined,
    });
    sock.setEncoding('utf8');
    sock.on('secureConnect', () => {
      out.clientSawServer = spiffeIdFromPeerCertificate(sock.getPeerCertificate());
    });
    sock.on('data', (d: string) => (out.clientReceived += d));
    sock.on('error', (err: Error) => {
      out.clientError = err;
    });
    // Not events.once: it would reject on the 'error' that a refused handshake emits.
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    await Promise.all([closed, serverSettled]);
  } finally {
    srv.close();
  }
  return out;
}

let pki: TestPki;
let alien: TlsIdentity; // same trust domain, issued under a different root
let server: TlsIdentity;
let client: TlsIdentity;

beforeAll(async () => {
  pki = await createTestPki();
  server = await pki.issue('shop', 'cart');
  client = await pki.issue('shop', 'frontend');
  const otherRoot = await CertificateAuthority.createRoot({ trustDomain: pki.trustDomain });
  const otherCa = await CertificateAuthority.load(otherRoot, { trustDomain: pki.trustDomain });
  const { keyPem, csrPem } = await createCsr(client.id);
  const issued = await otherCa.sign({ csrPem, id: client.id });
  alien = buildTlsIdentity({ id: client.id, keyPem, ...issued });
});

describe('mTLS between issued identities', () => {
  it('connects, and each side reads the other one’s SPIFFE ID', async () => {
    const out = await handshake(server, client);
    expect(out.serverError).toBeUndefined();
    expect(out.clientError).toBeUndefined();
    expect(out.serverSawClient).toBe(client.id);
    expect(out.clientSawServer).toBe(server.id);
    expect(out.clientReceived).toBe('ok');
  });

  it('connects when the server trusts a bundle holding the client’s root among others', async () => {
    const out = await handshake({ ...server, roots: alien.roots + server.roots }, client);
    expect(out.serverSawClient).toBe(client.id);
  });

  it.each([
    [
      'an expired client leaf',
      () =>
        pki.issue('shop', 'frontend', {
          notBefore: new Date(Date.now() - 2 * DAY),
          notAfter: new Date(Date.now() - DAY),
        }),
    ],
    [
      'a not-yet-valid client leaf',
      () =>
        pki.issue('shop', 'frontend', {
          notBefore: new Date(Date.now() + DAY),
          notAfter: new Date(Date.now() + 2 * DAY),
        }),
    ],
    ['a client leaf from another root', () => Promise.resolve({ ...alien, roots: server.roots })],
  ])('the server refuses %s', async (_name, makeClient) => {
    const out = await handshake(server, await makeClient());
    // TLS 1.3: the client accepted the server and finished first; then the server checked the
    // client certificate and dropped the connection (Node reports that only as a hang-up).
    expect(out.clientSawServer).toBe(server.id);
    expect(out.serverError).toBeDefined();
    expect(out.serverSawClient).toBeUndefined();
    expect(out.clientReceived).toBe('');
  });

  it.each([
    [
      'an expired server leaf',
      () =>
        pki.issue('shop', 'cart', {
          notBefore: new Date(Date.now() - 2 * DAY),
          notAfter: new Date(Date.now() - DAY),
        }),
      'CERT_HAS_EXPIRED',
    ],
    [
      'a server leaf from another root',
      () => Promise.resolve({ ...alien, roots: server.roots }),
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ],
  ])('the client refuses %s', async (_name, makeServer, code) => {
    const out = await handshake(await makeServer(), client);
    expect(out.clientError).toMatchObject({ code });
    expect(out.clientSawServer).toBeUndefined();
    expect(out.serverSawClient).toBeUndefined();
  });
});
