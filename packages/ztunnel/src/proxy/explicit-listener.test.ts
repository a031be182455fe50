// The explicit-mode port (SOCKS5 + HTTP CONNECT) against real clients and real garbage: success
// replies only once the upstream is open, the right refusal for each failure, and misbehaving
// clients never disturb a connection in progress.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Socks5Refusal } from '../dev/socks5-client.ts';
import {
  closed,
  echo,
  MeshHarness,
  readLine,
  type StartedZtunnel,
} from '../testing/mesh-harness.ts';

const MESH = `
workloads:
  - { name: sleep, namespace: default, serviceAccount: sleep, node: node-a, ip: "{{P}}.1" }
  - { name: web, namespace: web, serviceAccount: web, node: node-a, ip: "{{P}}.11", labels: { app: web } }
  - { name: gone, namespace: web, serviceAccount: web, node: node-a, ip: "{{P}}.12", labels: { app: gone }, healthy: false }
services:
  - { name: web, namespace: web, vip: "{{P}}.100", ports: [80], selector: { app: web } }
  - { name: gone, namespace: web, vip: "{{P}}.101", ports: [80], selector: { app: gone } }
`;

/** Connects to the proxy from `from`, sends `bytes`, returns everything the proxy sent back before closing. */
function exchange(
  proxy: { host: string; port: number },
  from: string,
  bytes: Buffer | string,
): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = connect({ ...proxy, localAddress: from });
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => {});
    s.once('close', () => resolve(Buffer.concat(got)));
    s.write(bytes);
    s.end();
  });
}

describe('explicit-mode listener (SOCKS5 and HTTP CONNECT on one port)', () => {
  let h: MeshHarness;
  let a: StartedZtunnel;
  let proxy: { host: string; port: number };

  beforeAll(async () => {
    h = await MeshHarness.create();
    await h.writeConfig(MESH);
    await h.app(h.ip(11), 80, 'web');
    a = await h.ztunnel('node-a');
    const s = a.z.addresses.socks5;
    if (!s) throw new Error('no socks5 listener');
    proxy = s;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('garbage, stalls and bad requests are answered or closed without touching a live connection', async () => {
    const live = await h.socks(a.z, h.ip(1), h.ip(100), 80);
    expect(await readLine(live)).toBe('web');

    const answers = await Promise.all([
      exchange(proxy, h.ip(1), Buffer.from([0x00, 0xff, 0x13, 0x37])), // neither protocol
      exchange(proxy, h.ip(1), Buffer.from([0x05, 0x01, 0x02])), // only user/password offered
      exchange(
        proxy,
        h.ip(1),
        Buffer.from([0x05, 0x01, 0x00, 0x05, 0x02, 0x00, 0x01, 1, 2, 3, 4, 0, 80]),
      ), // BIND
      exchange(proxy, h.ip(1), Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x09])), // bad address type
      exchange(proxy, h.ip(1), Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01])), // truncated, then FIN
      exchange(proxy, h.ip(1), Buffer.alloc(64 * 1024, 0x41)), // 64 KiB of "A": no request line
      exchange(proxy, h.ip(1), 'GET http://example.com/ HTTP/1.1\r\nhost: example.com\r\n\r\n'),
      exchange(proxy, h.ip(1), 'CONNECT nonsense HTTP/1.1\r\n\r\n'),
    ]);
    expect([...(answers[0] ?? [])]).toEqual([]);
    expect([...(answers[1] ?? [])]).toEqual([0x05, 0xff]);
    expect(answers[2]?.[3]).toBe(0x07); // command not supported (after the method reply 05 00)
    expect(answers[3]?.[3]).toBe(0x08); // address type not supported
    expect(answers[6]?.toString()).toMatch(/^HTTP\/1\.1 405 /);
    expect(answers[7]?.toString()).toMatch(/^HTTP\/1\.1 400 /);

    expect(await echo(live, 'unbothered')).toBe('unbothered');
    const fresh = await h.socks(a.z, h.ip(1), h.ip(100), 80);
    expect(await readLine(fresh)).toBe('web');
    fresh.destroy();
    live.destroy();
  });

  it('answers each failure with its SOCKS5 reply code', async () => {
    const reply = async (host: string, port: number, from = h.ip(1)): Promise<number> => {
      const err = await h.socks(a.z, from, host, port).then(
        (s) => {
          s.destroy();
          return undefined;
        },
        (e: unknown) => e,
      );
      return err instanceof Socks5Refusal ? err.reply : -1;
    };
    expect(await reply(h.ip(101), 80)).toBe(0x04); // no healthy endpoint
    expect(await reply(h.ip(100), 81)).toBe(0x04); // not a port of the service
    expect(await reply('127.0.0.1', 1)).toBe(0x05); // passthrough, refused
    expect(await reply(h.ip(100), 80, h.ip(200))).toBe(0x02); // source is no workload
  });

  it('speaks HTTP CONNECT: 200 once connected, then bytes; 403/503 with the reason otherwise', async () => {
    const connectVia = (target: string, from: string): Promise<{ head: string; socket: Socket }> =>
      new Promise((resolve, reject) => {
        const s = connect({ ...proxy, localAddress: from });
        let buf = '';
        const onData = (c: Buffer): void => {
          buf += c.toString('latin1');
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          s.off('data', onData);
          s.pause();
          const rest = buf.slice(end + 4);
          if (rest) s.unshift(Buffer.from(rest, 'latin1'));
          resolve({ head: buf.slice(0, end), socket: s });
        };
        s.on('data', onData);
        s.once('error', reject);
        s.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
      });

    const ok = await connectVia(`${h.ip(100)}:80`, h.ip(1));
    expect(ok.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(await readLine(ok.socket)).toBe('web');
    expect(await echo(ok.socket, 'over connect')).toBe('over connect');
    ok.socket.destroy();

    const byName = await connectVia('web.web.svc.cluster.local:80', h.ip(1));
    expect(byName.head).toMatch(/^HTTP\/1\.1 200 /);
    byName.socket.destroy();

    const denied = await connectVia(`${h.ip(100)}:80`, h.ip(201));
    expect(denied.head).toMatch(/^HTTP\/1\.1 403 /);
    await closed(denied.socket);
    const noEndpoint = await connectVia(`${h.ip(101)}:80`, h.ip(1));
    expect(noEndpoint.head).toMatch(/^HTTP\/1\.1 503 /);
    await closed(noEndpoint.socket);
  });
});
