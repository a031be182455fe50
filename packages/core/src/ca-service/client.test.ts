// CaClient ↔ CA server over real TLS 1.3 + HTTP/2 on 127.0.0.1: issued identities work in a real
// mTLS handshake; refusals, outages, timeouts and a wrong server all give the documented codes.
import { randomBytes, webcrypto } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CertManager } from '../identity/cert-manager.ts';
import { generateP256KeyPair, privateKeyToPem } from '../identity/csr.ts';
import { pemBlocks } from '../identity/pem.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { P256_SHA256, x509 } from '../identity/x509.ts';
import { makeCaCert, type CertAndKey } from '../testing/ca-fixtures.ts';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { CaClient, type CaClientOptions } from './client.ts';
import { startCaServer, type CaAuthenticator, type CaServer } from './server.ts';

const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice' as SpiffeId;
const CONTROLLER = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller' as SpiffeId;
const DNS_NAME = 'ambit-controller.ambit-system.svc';

let pki: TestPki;
let serving: TlsIdentity;
let dir: string;
let tokenFile: string;
const servers: CaServer[] = [];
const clients: CaClient[] = [];
const calls: { token: string; remotePort: number | undefined }[] = [];

/** "t-*" tokens are accepted; anything else is not. */
const authenticate: CaAuthenticator = (token, _id, req) => {
  calls.push({ token, remotePort: req.remotePort });
  return Promise.resolve(
    token.startsWith('t-')
      ? { allowed: true }
      : { allowed: false, status: 401, reason: 'token not accepted' },
  );
};

async function server(
  tlsMaterial = { key: serving.key, cert: serving.certChain },
  port?: number,
): Promise<CaServer> {
  const s = await startCaServer({ tls: tlsMaterial, ca: pki.ca, authenticate, port });
  servers.push(s);
  return s;
}

function client(port: number, opts: Partial<CaClientOptions> = {}): CaClient {
  const c = new CaClient({
    host: '127.0.0.1',
    port,
    rootsPem: pki.rootCertPem,
    serverId: CONTROLLER,
    token: { file: tokenFile },
    timeoutMs: 5_000,
    ...opts,
  });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Record<string, unknown>;
}

/** A serving certificate with a DNS name (the usual controller certificate), and its root. */
async function dnsServing(): Promise<{ root: CertAndKey; key: string; cert: string }> {
  const root = await makeCaCert({ name: 'controller root' });
  const keys = await generateP256KeyPair();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + randomBytes(8).toString('hex'),
    subject: `CN=${DNS_NAME}`,
    issuer: new x509.X509Certificate(root.certPem).subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey: keys.publicKey,
    signingKey: await webcrypto.subtle.importKey(
      'pkcs8',
      pemBlocks(root.keyPem)[0]?.der ?? new Uint8Array(),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    ),
    signingAlgorithm: P256_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: DNS_NAME }])],
  });
  return { root, key: await privateKeyToPem(keys.privateKey), cert: leaf.toString('pem') };
}

/** One mutual-TLS connection between two identities; resolves with what each side saw. */
async function mtls(
  serverId: TlsIdentity,
  clientId: TlsIdentity,
): Promise<{ serverSaw: SpiffeId; clientSaw: SpiffeId }> {
  const srv = tls.createServer({
    key: serverId.key,
    cert: serverId.certChain,
    ca: serverId.roots,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  const accepted = once(srv, 'secureConnection') as Promise<[tls.TLSSocket]>;
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const sock = tls.connect({
      host: '127.0.0.1',
      port: (srv.address() as AddressInfo).port,
      key: clientId.key,
      cert: clientId.certChain,
      ca: clientId.roots,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    await once(sock, 'secureConnect');
    const [peer] = await accepted;
    const result = {
      serverSaw: spiffeIdFromPeerCertificate(peer.getPeerX509Certificate()!),
      clientSaw: spiffeIdFromPeerCertificate(sock.getPeerX509Certificate()!),
    };
    sock.destroy();
    peer.destroy();
    return result;
  } finally {
    srv.close();
  }
}

beforeAll(async () => {
  pki = await createTestPki();
  serving = await pki.issue('ambit-system', 'ambit-controller');
  dir = await mkdtemp(join(tmpdir(), 'ambit-ca-client-'));
  tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 't-1\n');
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CaClient', () => {
  it('gets an identity that works in a real mTLS handshake', async () => {
    const s = await server();
    const alice = await client(s.port).requestCertificate(ALICE);
    expect(alice.id).toBe(ALICE);
    expect(alice.roots).toBe(pki.rootCertPem);
    expect(alice.notAfter.getTime()).toBeGreaterThan(Date.now());
    const bob = await pki.issue('shop', 'bob');
    const seen = await mtls(alice, bob);
    expect(seen).toEqual({ serverSaw: bob.id, clientSaw: ALICE });
  });

  it('backs a CertManager: concurrent get() calls make one signing request', async () => {
    const s = await server();
    const certs = new CertManager({ issuer: client(s.port).issuer });
    try {
      const got = await Promise.all(Array.from({ length: 20 }, () => certs.get(ALICE)));
      expect(new Set(got).size).toBe(1);
      expect(s.service.counters().signed).toBe(1);
      expect(certs.snapshot()).toMatchObject([{ id: ALICE, state: 'valid' }]);
    } finally {
      certs.close();
    }
  });

  it('reads the token file for every request (projected tokens rotate)', async () => {
    const s = await server();
    const c = client(s.port);
    await c.requestCertificate(ALICE);
    await writeFile(tokenFile, 't-2\n');
    await c.requestCertificate(ALICE);
    expect(calls.slice(-2).map((x) => x.token)).toEqual(['t-1', 't-2']);
    await writeFile(tokenFile, 't-1\n');
  });

  it('reuses one HTTP/2 session, and reconnects when it breaks', async () => {
    const s = await server();
    let n = 0;
    const c = client(s.port, { token: () => `t-supplied-${++n}` });
    await c.requestCertificate(ALICE);
    await c.requestCertificate(ALICE);
    const [first, second] = calls.slice(-2);
    expect(first?.remotePort).toBe(second?.remotePort);
    expect(first?.token).toBe('t-supplied-1');
    await s.close(); // destroys the session under the client
    const again = await server(undefined, s.port);
    await c.requestCertificate(ALICE);
    expect(again.service.counters().signed).toBe(1);
  });

  it('turns a 401 into AMBIT_CA_REFUSED carrying the status and the server code', async () => {
    const s = await server();
    const err = await rejection(
      client(s.port, { token: () => 'stolen' }).requestCertificate(ALICE),
    );
    expect(err).toMatchObject({
      code: 'AMBIT_CA_REFUSED',
      status: 401,
      serverCode: 'AMBIT_CA_UNAUTHENTICATED',
    });
    expect(err.message).toContain('token not accepted');
  });

  it('fails with AMBIT_CA_UNAVAILABLE when nothing listens', async () => {
    const s = await server();
    const port = s.port;
    await s.close();
    const err = await rejection(client(port).requestCertificate(ALICE));
    expect(err.code).toBe('AMBIT_CA_UNAVAILABLE');
    expect(err.message).toContain(`cannot reach the CA at 127.0.0.1:${port}: connect ECONNREFUSED`);
  });

  it('fails with AMBIT_CA_UNAVAILABLE when the server never answers', async () => {
    const silent: Http2SecureServer = createSecureServer({
      key: serving.key,
      cert: serving.certChain,
      allowHTTP1: false,
    });
    const sockets = new Set<Socket>();
    silent.on('connection', (sock: Socket) => sockets.add(sock));
    silent.on('stream', () => {}); // accepts the request, never responds
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const port = (silent.address() as AddressInfo).port;
      const err = await rejection(client(port, { timeoutMs: 300 }).requestCertificate(ALICE));
      expect(err.code).toBe('AMBIT_CA_UNAVAILABLE');
      expect(err.message).toContain('did not answer within 300 ms');
    } finally {
      for (const sock of sockets) sock.destroy();
      silent.close();
    }
  });

  it('refuses a server that is not the expected SPIFFE ID (AMBIT_CA_UNAVAILABLE)', async () => {
    const impostor = await pki.issue('shop', 'mallory');
    const s = await server({ key: impostor.key, cert: impostor.certChain });
    const err = await rejection(client(s.port).requestCertificate(ALICE));
    expect(err.code).toBe('AMBIT_CA_UNAVAILABLE');
    expect(err.message).toContain(`CA server is ${impostor.id}, expected ${CONTROLLER}`);
    expect(s.service.counters().signed).toBe(0);
  });

  it('verifies a DNS-named server certificate against servername and the given roots', async () => {
    const dns = await dnsServing();
    const s = await server({ key: dns.key, cert: dns.cert });
    const byName = { rootsPem: dns.root.certPem, serverId: undefined };
    const ok = client(s.port, { ...byName, servername: DNS_NAME });
    expect((await ok.requestCertificate(ALICE)).id).toBe(ALICE);
    const wrongName = client(s.port, { ...byName, servername: 'other.ambit-system.svc' });
    expect((await rejection(wrongName.requestCertificate(ALICE))).code).toBe(
      'AMBIT_CA_UNAVAILABLE',
    );
    const wrongRoots = client(s.port, { servername: DNS_NAME, serverId: undefined });
    expect((await rejection(wrongRoots.requestCertificate(ALICE))).code).toBe(
      'AMBIT_CA_UNAVAILABLE',
    );
  });

  it('fails with AMBIT_CA_TOKEN when the token file is missing', async () => {
    const s = await server();
    const err = await rejection(
      client(s.port, { token: { file: join(dir, 'absent') } }).requestCertificate(ALICE),
    );
    expect(err.code).toBe('AMBIT_CA_TOKEN');
    expect(s.service.counters()).toEqual({ signed: 0, refused: {} }); // never sent
  });
});
