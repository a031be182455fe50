// Certificate rotation under live traffic: short-lived certificates from the local CA rotate
// about once a second on both ztunnels while long-lived connections keep echoing and new ones
// keep opening. Nothing may fail: live sessions keep their certificates, new handshakes use the
// new ones, and the pool moves new streams to sessions made with the new client certificate.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { echo, MeshHarness, readLine, type StartedZtunnel } from './testing/mesh-harness.ts';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client' as SpiffeId;
const SERVER = 'spiffe://cluster.local/ns/default/sa/server' as SpiffeId;

/** The serial number of the certificate an HBONE listener presents to a new handshake. */
function presentedSerial(host: string, port: number, client: TlsIdentity): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = tlsConnect({
      host,
      port,
      key: client.key,
      cert: client.certChain,
      ca: client.roots,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    t.once('secureConnect', () => {
      resolve(t.getPeerCertificate().serialNumber.toLowerCase());
      t.destroy();
    });
    t.once('error', reject);
  });
}

const MESH = `
workloads:
  - { name: client, namespace: default, serviceAccount: client, node: node-a, ip: "{{P}}.1" }
  - { name: server, namespace: default, serviceAccount: server, node: node-b, ip: "{{P}}.11" }
`;

describe('certificate rotation', () => {
  let h: MeshHarness;
  let a: StartedZtunnel;
  let b: StartedZtunnel;

  beforeAll(async () => {
    h = await MeshHarness.create();
    await h.writeConfig(MESH);
    await h.app(h.ip(11), 7000, 'server');
    // 20 s leaves: the CA backdates notBefore, so half-life is already past and CertManager
    // renews after its minimum delay (1 s) — many rotations, with a wide margin before expiry.
    a = await h.ztunnel('node-a', { certTtlMs: 20_000 });
    b = await h.ztunnel('node-b', { certTtlMs: 20_000 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('drops no live connection and fails no new one while certificates rotate on both sides', async () => {
    const rotations = { a: 0, b: 0 };
    a.z.certs.on('rotated', () => rotations.a++);
    b.z.certs.on('rotated', () => rotations.b++);

    const serverSerial = (): string | undefined =>
      b.z.certs.snapshot().find((c) => c.id === SERVER)?.serial;
    const initialSerial = serverSerial();
    expect(initialSerial).toBeDefined();
    const live: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await h.socks(a.z, h.ip(1), h.ip(11), 7000);
      expect(await readLine(s)).toBe('server');
      live.push(s);
    }
    let failures = 0;
    let rounds = 0;
    while (rotations.a < 3 || rotations.b < 3) {
      rounds++;
      for (const [i, s] of live.entries()) {
        const msg = `round ${rounds} conn ${i}`;
        if ((await echo(s, msg).catch(() => '')) !== msg) failures++;
      }
      try {
        const fresh = await h.socks(a.z, h.ip(1), h.ip(11), 7000);
        if ((await readLine(fresh)) !== 'server') failures++;
        fresh.destroy();
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(failures).toBe(0);
    for (const s of live) expect(s.destroyed).toBe(false);
    // New handshakes get the rotated certificate: the serial b's HBONE listener presents now is
    // the one b's certificate manager holds now.
    const clientCert = a.z.certs.peek(CLIENT);
    if (!clientCert) throw new Error('client certificate missing');
    const heldBefore = serverSerial();
    const presented = await presentedSerial(h.ip(11), h.hbonePort, clientCert);
    expect([heldBefore, serverSerial()]).toContain(presented); // a rotation may land in between
    expect(presented).not.toBe(initialSerial);
    for (const s of live) s.destroy();
  });
});
