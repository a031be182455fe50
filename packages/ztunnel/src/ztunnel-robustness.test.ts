// Hostile bytes on the HBONE port, and graceful drain: garbage, plaintext HTTP, TLS without a
// client certificate and a certificate from another CA on :15008 are dropped without disturbing a
// live tunnel; on shutdown ztunnel stops accepting and lets live connections finish.

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalCaIssuer } from '@ambit/core/ca-service/local-ca-issuer';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import {
  closed,
  echo,
  MeshHarness,
  readLine,
  type StartedZtunnel,
} from './testing/mesh-harness.ts';

const MESH = `
workloads:
  - { name: sleep, namespace: default, serviceAccount: sleep, node: node-a, ip: "{{P}}.1" }
  - { name: web, namespace: web, serviceAccount: web, node: node-b, ip: "{{P}}.11" }
`;

/** Opens a raw TCP connection, sends `bytes`, resolves when the server has closed it. */
function rawGarbage(host: string, port: number, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('error', () => {});
    s.on('data', () => {});
    s.once('close', () => resolve());
    s.write(bytes);
  });
}

/** A TLS handshake to the HBONE port with the given client certificate (or none); resolves when closed. */
function tlsAttempt(
  host: string,
  port: number,
  cert?: { key: string; certChain: string },
): Promise<void> {
  return new Promise((resolve) => {
    const t = tlsConnect({
      host,
      port,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      ...(cert && { key: cert.key, cert: cert.certChain }),
    });
    t.on('error', () => {});
    t.on('data', () => {});
    t.once('close', () => resolve());
    t.once('secureConnect', () => t.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n garbage'));
  });
}

describe('ztunnel robustness', () => {
  let h: MeshHarness;
  let a: StartedZtunnel;
  let b: StartedZtunnel;

  beforeAll(async () => {
    h = await MeshHarness.create();
    await h.writeConfig(MESH);
    await h.app(h.ip(11), 80, 'web');
    a = await h.ztunnel('node-a');
    b = await h.ztunnel('node-b');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('drops garbage on :15008 without affecting a live tunnel or new ones', async () => {
    const live = await h.socks(a.z, h.ip(1), h.ip(11), 80);
    expect(await readLine(live)).toBe('web');

    const other = await createLocalCaIssuer({ trustDomain: 'cluster.local' });
    const foreign = await other.issue(
      formatSpiffeId({
        trustDomain: 'cluster.local',
        namespace: 'default',
        serviceAccount: 'sleep',
      }),
    );
    await Promise.all([
      rawGarbage(h.ip(11), h.hbonePort, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])),
      rawGarbage(h.ip(11), h.hbonePort, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n'),
      rawGarbage(h.ip(11), h.hbonePort, Buffer.alloc(32 * 1024, 0xee)),
      tlsAttempt(h.ip(11), h.hbonePort), // no client certificate
      tlsAttempt(h.ip(11), h.hbonePort, foreign), // a certificate from another CA
    ]);

    expect(await echo(live, 'still tunnelled')).toBe('still tunnelled');
    const fresh = await h.socks(a.z, h.ip(1), h.ip(11), 80);
    expect(await readLine(fresh)).toBe('web');
    fresh.destroy();
    live.destroy();
  });

  it('drains: stops accepting, lets a live connection finish, then stops', async () => {
    const live: Socket = await h.socks(a.z, h.ip(1), h.ip(11), 80);
    expect(await readLine(live)).toBe('web');
    await expect.poll(() => b.z.registry.size).toBe(1);

    const draining = b.z.shutdown(30_000);
    await expect.poll(() => b.z.drain.draining).toBe(true);
    const ready = await fetch(`http://127.0.0.1:${b.z.addresses.readiness.port}/healthz/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('draining');
    // The listener is closed: a new connection is refused at node-a (HBONE cannot connect).
    await expect(h.socks(a.z, h.ip(1), h.ip(11), 80)).rejects.toThrow(/reply 4/);
    // The live one still works, and ends on its own.
    expect(await echo(live, 'during drain')).toBe('during drain');
    live.end();
    await closed(live);
    await expect(draining).resolves.toEqual({ live: 1, finished: 1, forced: 0 });
  });
});
