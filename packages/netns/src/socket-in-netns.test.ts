import { closeSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enterNetns, getMark, socketFd, socketInNetns, ZTUNNEL_MARK } from './index.ts';
import { createTempNetns, requireRoot, type TempNetns } from './testing/temp-netns.ts';
import {
  closeServer,
  connectFd,
  openFdCount,
  portOf,
  serveFd,
  threadNetns,
} from './testing/net-helpers.ts';

describe('socketInNetns', () => {
  let ns: TempNetns;
  let ownNetns: string;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeAll(() => {
    requireRoot();
    ns = createTempNetns();
    ownNetns = threadNetns();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map(closeServer));
    // Whatever a test did, the JS thread is back in its own netns.
    expect(threadNetns()).toBe(ownNetns);
  });
  afterAll(() => ns?.remove());

  /** An echo-greeting listener inside the test netns: answers "hello <client address>". */
  async function listenInNs(family: 4 | 6, address: string): Promise<Server> {
    const fd = socketInNetns(ns.path, { family, listen: { address, port: 0 } });
    const server = await serveFd(fd, (s) => s.end(`hello ${s.remoteAddress}`));
    servers.push(server);
    return server;
  }

  async function readAll(s: Socket): Promise<string> {
    let text = '';
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    await once(s, 'end');
    return text;
  }

  it('a listener inside the netns accepts a connection made from inside the same netns', async () => {
    const server = await listenInNs(4, '127.0.0.1');
    const client = await connectFd(
      socketInNetns(ns.path, { family: 4 }),
      portOf(server),
      '127.0.0.1',
    );
    sockets.push(client);
    expect(await readAll(client)).toBe('hello 127.0.0.1');
  });

  it('the same listener is not reachable from the root netns', async () => {
    const server = await listenInNs(4, '127.0.0.1');
    const client = connect(portOf(server), '127.0.0.1');
    sockets.push(client);
    const outcome = await new Promise<string>((resolve) => {
      client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      client.on('connect', () => resolve('connected'));
    });
    expect(outcome).toBe('ECONNREFUSED');
  });

  it('works for IPv6', async () => {
    const server = await listenInNs(6, '::1');
    const client = await connectFd(socketInNetns(ns.path, { family: 6 }), portOf(server), '::1');
    sockets.push(client);
    expect(await readAll(client)).toBe('hello ::1');
  });

  it('binds an outgoing socket to a given source port before connecting', async () => {
    const server = await listenInNs(4, '127.0.0.1');
    const fd = socketInNetns(ns.path, { family: 4, bind: { address: '127.0.0.2', port: 0 } });
    const client = await connectFd(fd, portOf(server), '127.0.0.1');
    sockets.push(client);
    expect(client.localAddress).toBe('127.0.0.2');
    expect(await readAll(client)).toBe('hello 127.0.0.2');
  });

  it('marks the socket it creates', async () => {
    const fd = socketInNetns(ns.path, { family: 4, mark: ZTUNNEL_MARK });
    const client = await connectFd(fd, portOf(await listenInNs(4, '127.0.0.1')), '127.0.0.1');
    sockets.push(client);
    expect(getMark(socketFd(client))).toBe(0x539);
  });

  it('gives EADDRINUSE (AMBIT_SOCKET) for a port already listened on in that netns', async () => {
    const server = await listenInNs(4, '127.0.0.1');
    const again = () =>
      socketInNetns(ns.path, { family: 4, listen: { address: '127.0.0.1', port: portOf(server) } });
    expect(again).toThrow(
      expect.objectContaining({ code: 'AMBIT_SOCKET', errnoCode: 'EADDRINUSE', syscall: 'bind' }),
    );
  });

  it('the same port is free in another netns', async () => {
    const server = await listenInNs(4, '127.0.0.1');
    const other = createTempNetns();
    try {
      const fd = socketInNetns(other.path, {
        family: 4,
        listen: { address: '127.0.0.1', port: portOf(server) },
      });
      closeSync(fd);
    } finally {
      other.remove();
    }
  });

  it('names the path when the netns does not exist (AMBIT_NETNS_OPEN)', () => {
    const path = '/run/netns/ambit-test-does-not-exist';
    expect(() => socketInNetns(path, { family: 4 })).toThrow(
      expect.objectContaining({ code: 'AMBIT_NETNS_OPEN', errnoCode: 'ENOENT', path }),
    );
    expect(() => socketInNetns(path, { family: 4 })).toThrow(path);
    expect(() => enterNetns(path)).toThrow(expect.objectContaining({ code: 'AMBIT_NETNS_OPEN' }));
  });

  it('refuses a path that is not a network namespace (AMBIT_NETNS_SETNS, EINVAL)', () => {
    for (const path of ['/etc/hostname', '/proc/self/ns/uts']) {
      expect(() => socketInNetns(path, { family: 4 })).toThrow(
        expect.objectContaining({ code: 'AMBIT_NETNS_SETNS', errnoCode: 'EINVAL', path }),
      );
    }
  });

  it('rejects bad arguments before any system call', () => {
    expect(() =>
      socketInNetns(ns.path, { family: 4, listen: { address: '::1', port: 1 } }),
    ).toThrow(TypeError);
    expect(() =>
      socketInNetns(ns.path, { family: 4, listen: { address: '127.0.0.1', port: 70000 } }),
    ).toThrow(TypeError);
    expect(() => socketInNetns(ns.path, { family: 4, mark: -1 })).toThrow(TypeError);
    expect(() =>
      socketInNetns(ns.path, {
        family: 4,
        listen: { address: '127.0.0.1', port: 0 },
        bind: { address: '127.0.0.1' },
      }),
    ).toThrow(TypeError);
  });

  it('leaves the thread in its own netns and leaks no fds over many calls, failed ones too', () => {
    const before = openFdCount();
    let port = 0;
    for (let i = 0; i < 200; i++) {
      const fd = socketInNetns(ns.path, {
        family: 4,
        mark: 1,
        listen: { address: '127.0.0.1', port: 0 },
      });
      expect(threadNetns()).toBe(ownNetns);
      if (i === 0) {
        // Keep the first listener open so later binds to its port fail with EADDRINUSE.
        port = Number(ns.exec('ss', '-Hltn').match(/127\.0\.0\.1:(\d+)/)?.[1]);
        expect(port).toBeGreaterThan(0);
        continue;
      }
      closeSync(fd);
      expect(() =>
        socketInNetns(ns.path, { family: 4, listen: { address: '127.0.0.1', port } }),
      ).toThrow(expect.objectContaining({ errnoCode: 'EADDRINUSE' }));
      expect(() => socketInNetns('/run/netns/ambit-test-missing', { family: 4 })).toThrow();
      expect(() => socketInNetns('/etc/hostname', { family: 4 })).toThrow();
      enterNetns(ns.path);
      expect(threadNetns()).toBe(ownNetns);
    }
    expect(openFdCount()).toBe(before + 1);
  });
});
