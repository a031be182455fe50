// The controller's 15012 over real TLS 1.3 + HTTP/2: the config stream's refusals (401, 403, 400,
// 503, 405), garbage from one client not touching another, the CA served on the same port, 404 for
// anything else, and a peer that stops answering PINGs dropped.

import { constants as h2, connect as h2connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { CaClient } from '@ambit/core/ca-service/client';
import { CA_PATH } from '@ambit/core/ca-service/protocol';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import type { Workload } from '@ambit/core/mesh/types';
import { ConfigStore } from '../stream/config-store.ts';
import {
  seed,
  startTestController,
  until,
  workload,
  type TestController,
} from '../stream/test-harness.ts';

let c: TestController | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

const change = (w: Workload) => ({
  changed: new Map([[w.uid, w]]),
  removed: new Set<string>(),
});

describe('controller server (15012)', () => {
  it('refuses a bad token (401), a caller subscribing as another node (403), a non-POST (405)', async () => {
    c = await startTestController();
    seed(c.store, 5, 1);
    const { client } = c.client('not-a-token', 'node-1');
    await until(
      () => client.state().lastError?.code === 'AMBIT_CONFIG_STREAM_UNAUTHENTICATED',
      'the client told 401',
    );
    expect(client.state().lastError?.message).toContain('401');
    expect(client.state().lastError?.message).toContain('token not accepted');

    const empty = c.raw('', 'node-1', ['Workload']);
    const forbidden = c.raw('forbidden', 'node-1', ['Workload']);
    const otherNode = c.raw('ztunnel:node-a', 'node-b', ['Workload']);
    const otherWaypoint = c.raw('waypoint:shop:wp', 'other', ['Route']);
    for (const r of [empty, forbidden, otherNode, otherWaypoint]) {
      await r.until(() => r.closedWith !== undefined);
    }
    expect(empty.status).toBe(401);
    expect(forbidden.status).toBe(403);
    expect(otherNode.status).toBe(403);
    expect(otherNode.body).toContain('may only subscribe as "node-a"');
    expect(otherWaypoint.status).toBe(403);
    expect(c.stream.subscribers()).toEqual([]);

    const session = h2connect(`https://127.0.0.1:${c.port}`, {
      ca: c.pki.rootCertPem,
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => {});
    const status = await new Promise<number>((resolve) => {
      const req = session.request({ ':method': 'GET', ':path': '/ambit.config.v1/stream' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', () => {});
      req.resume();
    });
    session.destroy();
    expect(status).toBe(405);
    expect(await c.metric('ambit_controller_config_stream_refused_total', { status: '403' })).toBe(
      3,
    );
  });

  it('answers 503 until every type has been translated, then serves', async () => {
    const store = new ConfigStore();
    c = await startTestController({ store });
    const early = c.raw('ztunnel:node-1', 'node-1', ['Workload']);
    await early.until(() => early.closedWith !== undefined);
    expect(early.status).toBe(503);
    expect(early.body).toContain('Workload');
    expect(c.stream.readiness().ready).toBe(false);
    seed(store, 3, 1);
    expect(c.stream.readiness()).toEqual({ ready: true });
    const { client } = c.client('ztunnel:node-1', 'node-1');
    await client.ready();
    expect(client.resources('Workload').size).toBe(3);
  });

  it('closes a stream that sends garbage (400 before the subscribe, reset after); others are unaffected', async () => {
    c = await startTestController();
    seed(c.store, 20, 2);
    const good = c.client('ztunnel:node-1', 'node-1');
    await good.client.ready();

    const badFirst = c.raw('ztunnel:node-2', 'node-2', ['Workload'], {
      subscribeLine: 'GET / HTTP/1.1\n',
    });
    await badFirst.until(() => badFirst.closedWith !== undefined);
    expect(badFirst.status).toBe(400);
    expect(badFirst.body).toContain('not valid JSON');

    const badLater = c.raw('ztunnel:node-3', 'node-3', ['Workload']);
    await badLater.until(() => badLater.messages.length === 1);
    badLater.write('{"schema":1,"kind":"ack"\n');
    await badLater.until(() => badLater.closedWith !== undefined);
    expect(badLater.closedWith).toBe(h2.NGHTTP2_PROTOCOL_ERROR);

    const wrongNonce = c.raw('ztunnel:node-4', 'node-4', ['Workload']);
    await wrongNonce.until(() => wrongNonce.messages.length === 1);
    wrongNonce.ack({ ...wrongNonce.messages[0]!, nonce: 'made-up' });
    await wrongNonce.until(() => wrongNonce.closedWith !== undefined);
    expect(wrongNonce.closedWith).toBe(h2.NGHTTP2_PROTOCOL_ERROR);
    expect(
      await c.metric('ambit_controller_config_stream_disconnects_total', { reason: 'protocol' }),
    ).toBe(2);

    c.store.publish('Workload', change(workload(3, { healthy: false })));
    await until(
      () => good.client.resources('Workload').get('uid-3')?.healthy === false,
      'the good client updated',
    );
    expect(c.stream.subscribers().map((s) => s.node)).toEqual(['node-1']);
  });

  it('serves the CA on the same port, next to a live config stream; 404 elsewhere', async () => {
    c = await startTestController({ withCa: true });
    seed(c.store, 5, 1);
    const { client } = c.client('ztunnel:node-1', 'node-1');
    await client.ready();

    const id = formatSpiffeId({
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
    });
    const ca = new CaClient({
      host: '127.0.0.1',
      port: c.port,
      rootsPem: c.pki.rootCertPem,
      serverId: c.identity.id,
      token: () => 'ca-ok',
    });
    const issued = await ca.requestCertificate(id);
    expect(issued.id).toBe(id);
    const refused = new CaClient({
      host: '127.0.0.1',
      port: c.port,
      rootsPem: c.pki.rootCertPem,
      serverId: c.identity.id,
      token: () => 'wrong',
    });
    await expect(refused.requestCertificate(id)).rejects.toMatchObject({
      code: 'AMBIT_CA_REFUSED',
    });
    ca.close();
    refused.close();

    const session = h2connect(`https://127.0.0.1:${c.port}`, {
      ca: c.pki.rootCertPem,
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => {});
    const status = (path: string) =>
      new Promise<number>((resolve) => {
        const req = session.request({ ':method': 'POST', ':path': path });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', () => {});
        req.resume();
        req.end();
      });
    expect(await status('/metrics')).toBe(404);
    expect(await status(`${CA_PATH}x`)).toBe(404);
    session.destroy();
    expect(client.state().connected).toBe(true);
  });

  it('drops a session whose peer stops answering HTTP/2 PINGs', async () => {
    c = await startTestController({ pingIntervalMs: 100 });
    seed(c.store, 1, 1);
    // A peer that speaks the HTTP/2 preface and SETTINGS, then nothing: no SETTINGS or PING ACKs.
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: c.port,
      ca: c.pki.rootCertPem,
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['h2'],
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // empty SETTINGS
    socket.resume();
    await until(() => c!.server.sessionCount() === 1, 'the session');
    await until(() => socket.destroyed, 'the silent peer dropped');
    expect(c.server.sessionCount()).toBe(0);
    expect(c.logs.some((l) => l.includes('did not answer an HTTP/2 PING'))).toBe(true);
  });
});
