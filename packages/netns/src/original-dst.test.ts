import { closeSync, openSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { originalDst, socketFd, socketInNetns, type SocketAddress } from './index.ts';
import { createTempNetns, requireRoot, type TempNetns } from './testing/temp-netns.ts';
import { closeServer, connectFd, serveFd } from './testing/net-helpers.ts';

// Inside a test netns, NAT OUTPUT rules send TCP for 10.9.0.1:80 and [fd00::9]:80 to the capture
// port 15001, like the pod rules send outbound traffic to ztunnel.
const CAPTURE_PORT = 15001;

describe('originalDst', () => {
  let ns: TempNetns;
  /** A netns with no NAT rules, hence no connection tracking. */
  let plain: TempNetns;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeAll(() => {
    requireRoot();
    plain = createTempNetns();
    ns = createTempNetns();
    ns.exec('ip', 'addr', 'add', '10.9.0.1/32', 'dev', 'lo');
    ns.exec('ip', '-6', 'addr', 'add', 'fd00::9/128', 'dev', 'lo', 'nodad');
    for (const [cmd, dst] of [
      ['iptables', '10.9.0.1'],
      ['ip6tables', 'fd00::9'],
    ] as const) {
      ns.exec(
        cmd,
        '-t',
        'nat',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '-d',
        dst,
        '--dport',
        '80',
        '-j',
        'REDIRECT',
        '--to-ports',
        String(CAPTURE_PORT),
      );
    }
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map(closeServer));
  });
  afterAll(() => {
    ns?.remove();
    plain?.remove();
  });

  /** Listens on the capture port in the netns, connects to `dst`:`port`, returns what the listener saw. */
  async function captured(
    family: 4 | 6,
    listenAddress: string,
    dst: string,
    port: number,
    where = ns,
  ): Promise<SocketAddress | Error> {
    const fd = socketInNetns(where.path, {
      family,
      listen: { address: listenAddress, port: CAPTURE_PORT },
    });
    let seen!: (v: SocketAddress | Error) => void;
    const result = new Promise<SocketAddress | Error>((resolve) => (seen = resolve));
    servers.push(
      await serveFd(fd, (s) => {
        try {
          seen(originalDst(socketFd(s)));
        } catch (err) {
          seen(err as Error);
        }
        s.destroy();
      }),
    );
    const client = await connectFd(
      socketInNetns(where.path, { family: dst.includes(':') ? 6 : 4 }),
      port,
      dst,
    );
    sockets.push(client);
    return result;
  }

  it('recovers the IPv4 destination of a REDIRECTed connection', async () => {
    expect(await captured(4, '0.0.0.0', '10.9.0.1', 80)).toEqual({
      address: '10.9.0.1',
      port: 80,
      family: 4,
    });
  });

  it('recovers the IPv6 destination of a REDIRECTed connection', async () => {
    expect(await captured(6, '::', 'fd00::9', 80)).toEqual({
      address: 'fd00::9',
      port: 80,
      family: 6,
    });
  });

  it('recovers an IPv4 destination accepted on a dual-stack IPv6 listener', async () => {
    expect(await captured(6, '::', '10.9.0.1', 80)).toEqual({
      address: '10.9.0.1',
      port: 80,
      family: 4,
    });
  });

  it('gives a clear ENOENT error where no connection is tracked (netns without NAT rules)', async () => {
    const err = await captured(4, '0.0.0.0', '127.0.0.1', CAPTURE_PORT, plain);
    expect(err).toMatchObject({ code: 'AMBIT_SOCKET', errnoCode: 'ENOENT' });
    expect((err as Error).message).toMatch(/not redirected/);
  });

  it('gives the local address itself for a tracked connection that was not redirected', async () => {
    // Callers detect "not redirected" by comparing with the socket's local address.
    expect(await captured(4, '0.0.0.0', '127.0.0.1', CAPTURE_PORT)).toEqual({
      address: '127.0.0.1',
      port: CAPTURE_PORT,
      family: 4,
    });
  });

  it('gives ENOTSOCK for an fd that is not a socket', () => {
    const fd = openSync('/dev/null', 'r');
    try {
      expect(() => originalDst(fd)).toThrow(
        expect.objectContaining({ code: 'AMBIT_SOCKET', errnoCode: 'ENOTSOCK' }),
      );
    } finally {
      closeSync(fd);
    }
  });
});
