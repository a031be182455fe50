// The CA service over real TLS 1.3 + HTTP/2 on 127.0.0.1, driven by a raw node:http2 client so
// that malformed requests can be sent. Every bad request must get a clear JSON error, and the same
// session must still get a good request served right after.
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr } from '../identity/csr.ts';
import { buildTlsIdentity } from '../identity/issued-identity.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { createTestPki, type TestPki } from '../testing/pki.ts';
import { CA_PATH, MAX_REQUEST_BYTES } from './protocol.ts';
import {
  startCaServer,
  type CaAuthenticator,
  type CaRequestResult,
  type CaServer,
} from './server.ts';

const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice' as SpiffeId;
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob' as SpiffeId;

let pki: TestPki;
let server: CaServer;
let session: ClientHttp2Session;
const results: CaRequestResult[] = [];
const seen: { token: string; id: SpiffeId; remoteAddress: string | undefined }[] = [];

/** Tokens: "good" may have any identity; "node-a" may have alice only; "boom" breaks the authenticator. */
const authenticate: CaAuthenticator = async (token, id, req) => {
  seen.push({ token, id, remoteAddress: req.remoteAddress });
  await Promise.resolve();
  if (token === 'boom') throw new Error('TokenReview unreachable');
  if (token === 'good') return { allowed: true };
  if (token === 'node-a') {
    return id === ALICE
      ? { allowed: true }
      : { allowed: false, status: 403, reason: 'no pod of that service account on node-a' };
  }
  return { allowed: false, status: 401, reason: 'token not accepted' };
};

interface Reply {
  status: number;
  contentType: string | undefined;
  json: Record<string, unknown>;
}

function post(body: string | Buffer, headers: OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': CA_PATH,
      'content-type': 'application/json',
      authorization: 'Bearer good',
      ...headers,
    });
    let status = 0;
    let contentType: string | undefined;
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      status = Number(h[':status']);
      contentType = h['content-type'];
    });
    req.on('data', (d: string) => (text += d));
    req.on('end', () => {
      try {
        resolve({ status, contentType, json: JSON.parse(text) as Record<string, unknown> });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    // The server may stop an oversized upload with RST_STREAM(NO_ERROR) after answering.
    req.on('error', reject);
    req.end(body);
  });
}

async function goodBody(id: SpiffeId = ALICE): Promise<{ body: string; keyPem: string }> {
  const { keyPem, csrPem } = await createCsr(id);
  return { body: JSON.stringify({ identity: id, csr: csrPem, ttlSeconds: 3600 }), keyPem };
}

async function expectGoodRequestServed(): Promise<void> {
  const { body } = await goodBody();
  const reply = await post(body);
  expect(reply.status).toBe(200);
}

beforeAll(async () => {
  pki = await createTestPki();
  const serving = await pki.issue('ambit-system', 'ambit-controller');
  server = await startCaServer({
    tls: { key: serving.key, cert: serving.certChain },
    ca: pki.ca,
    authenticate,
    bodyTimeoutMs: 2_000,
    onResult: (r) => results.push(r),
  });
  session = connect(`https://127.0.0.1:${server.port}`, {
    ca: pki.rootCertPem,
    checkServerIdentity: () => undefined, // the identity check is the client's job (client.test.ts)
  });
});

afterAll(async () => {
  session?.close();
  await server?.close();
});

describe('CA service', () => {
  it('signs a CSR for the requested identity and answers with a chain that verifies', async () => {
    const { body, keyPem } = await goodBody();
    const reply = await post(body);
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe('application/json');
    const certChain = reply.json.certChain as string[];
    const roots = reply.json.roots as string[];
    expect(certChain).toHaveLength(1); // self-signed root: the leaf only
    expect(roots.join('')).toBe(pki.rootCertPem);
    const identity = buildTlsIdentity({
      id: ALICE,
      keyPem,
      certChain: certChain.join(''),
      roots: roots.join(''),
    });
    expect(identity.notAfter.toISOString()).toBe(reply.json.notAfter);
    // ttlSeconds is honoured (the CA backdates notBefore by its clock skew, 5 min).
    expect(identity.notAfter.getTime() - identity.notBefore.getTime()).toBe(3_900_000);
    expect(seen.at(-1)).toMatchObject({ token: 'good', id: ALICE, remoteAddress: '127.0.0.1' });
  });

  it('refuses a CSR whose SAN is not the identity asked for (400 AMBIT_CSR_IDENTITY_MISMATCH)', async () => {
    const { csrPem } = await createCsr(BOB);
    const reply = await post(JSON.stringify({ identity: ALICE, csr: csrPem }));
    expect(reply.status).toBe(400);
    expect(reply.json.code).toBe('AMBIT_CSR_IDENTITY_MISMATCH');
    expect(reply.json.message).toContain(ALICE);
  });

  it('answers 401 without a bearer token, before asking the authenticator', async () => {
    const before = seen.length;
    const { body } = await goodBody();
    const reply = await post(body, { authorization: 'Basic Zm9vOmJhcg==' });
    expect(reply).toMatchObject({ status: 401, json: { code: 'AMBIT_CA_UNAUTHENTICATED' } });
    expect(seen.length).toBe(before);
  });

  it('passes the authenticator 401 and 403 decisions to the wire with their reason', async () => {
    const { body } = await goodBody(BOB);
    const unauth = await post(body, { authorization: 'Bearer forged' });
    expect(unauth).toMatchObject({ status: 401, json: { code: 'AMBIT_CA_UNAUTHENTICATED' } });
    expect(unauth.json.message).toContain('token not accepted');
    const forbidden = await post(body, { authorization: 'Bearer node-a' });
    expect(forbidden).toMatchObject({ status: 403, json: { code: 'AMBIT_CA_FORBIDDEN' } });
    expect(forbidden.json.message).toContain(`${BOB}: no pod of that service account on node-a`);
    const alice = await goodBody(ALICE);
    expect((await post(alice.body, { authorization: 'Bearer node-a' })).status).toBe(200);
  });

  it('answers 500 when the authenticator fails, and keeps serving', async () => {
    const { body } = await goodBody();
    const reply = await post(body, { authorization: 'Bearer boom' });
    expect(reply).toMatchObject({ status: 500, json: { code: 'AMBIT_CA_INTERNAL' } });
    await expectGoodRequestServed();
  });

  it.each([
    ['garbage', '{"identity": nope'],
    ['an array', '[]'],
    ['an unknown field', JSON.stringify({ identity: ALICE, csr: 'x', admin: true })],
    ['a bad identity', JSON.stringify({ identity: 'spiffe://cluster.local/ns/../sa/x', csr: 'x' })],
    ['a negative TTL', JSON.stringify({ identity: ALICE, csr: 'x', ttlSeconds: -5 })],
    ['no CSR', JSON.stringify({ identity: ALICE })],
  ])('answers 400 to %s and then serves a good request', async (_what, body) => {
    const reply = await post(body);
    expect(reply.status).toBe(400);
    expect(reply.json.code).toBe('AMBIT_CA_BAD_REQUEST');
    expect(typeof reply.json.message).toBe('string');
    await expectGoodRequestServed();
  });

  it('answers 400 AMBIT_CSR_MALFORMED to a CSR that is not PEM', async () => {
    const reply = await post(JSON.stringify({ identity: ALICE, csr: 'hello' }));
    expect(reply).toMatchObject({ status: 400, json: { code: 'AMBIT_CSR_MALFORMED' } });
  });

  it('answers 400 to a body that is not declared as JSON', async () => {
    const { body } = await goodBody();
    const reply = await post(body, { 'content-type': 'text/plain' });
    expect(reply).toMatchObject({ status: 400, json: { code: 'AMBIT_CA_BAD_REQUEST' } });
  });

  it('answers 413 to an oversized body (streamed without content-length) and keeps serving', async () => {
    const huge = Buffer.alloc(MAX_REQUEST_BYTES * 4, 0x61);
    const reply = await post(huge);
    expect(reply).toMatchObject({ status: 413, json: { code: 'AMBIT_CA_REQUEST_TOO_LARGE' } });
    await expectGoodRequestServed();
  });

  it('answers 413 to a declared content-length over the limit', async () => {
    const body = Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61);
    const reply = await post(body, { 'content-length': body.length });
    expect(reply.status).toBe(413);
    await expectGoodRequestServed();
  });

  it('answers 404 to another path and 405 to another method', async () => {
    const { body } = await goodBody();
    const notFound = await post(body, { ':path': '/ambit.ca.v2/certificates' });
    expect(notFound).toMatchObject({ status: 404, json: { code: 'AMBIT_CA_ROUTE' } });
    const wrongMethod = await post('', { ':method': 'PUT' });
    expect(wrongMethod).toMatchObject({ status: 405, json: { code: 'AMBIT_CA_ROUTE' } });
    await expectGoodRequestServed();
  });

  it('counts signed and refused requests and reports each result', () => {
    const counters = server.service.counters();
    const signed = results.filter((r) => r.status === 200).length;
    expect(counters.signed).toBe(signed);
    expect(signed).toBeGreaterThan(5);
    expect(counters.refused.AMBIT_CA_BAD_REQUEST).toBe(7);
    expect(counters.refused.AMBIT_CA_UNAUTHENTICATED).toBe(2);
    expect(counters.refused.AMBIT_CA_FORBIDDEN).toBe(1);
    expect(counters.refused.AMBIT_CA_REQUEST_TOO_LARGE).toBe(2);
    expect(counters.refused.AMBIT_CA_ROUTE).toBe(2);
    const forbidden = results.find((r) => r.code === 'AMBIT_CA_FORBIDDEN');
    expect(forbidden).toMatchObject({ status: 403, identity: BOB });
  });
});
