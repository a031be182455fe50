import { once } from 'node:events';
import { closeSync } from 'node:fs';
import { connect, createServer, Socket, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  bindTo,
  getMark,
  setFreebind,
  setMark,
  setTransparent,
  socketFd,
  socketInNetns,
  ZTUNNEL_MARK,
} from './index.ts';
import { createTempNetns, requireRoot, type TempNetns } from './testing/temp-netns.ts';
import { closeServer, connectFd, portOf, serveFd } from './testing/net-helpers.ts';

// The test netns plays a pod: the app listens on 10.9.0.1:8080; a "client" 10.77.0.5 lives
// elsewhere. Replies from the app to 10.77.0.0/16 are routed back to local sockets (policy
// routing, as transparent proxies set up), so a transparent socket can speak as the client.
const APP = '10.9.0.1';
const CLIENT = '10.77.0.5';

describe('socket options', () => {
  let ns: TempNetns;
  let app: Server;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    requireRoot();
    ns = createTempNetns();
    ns.exec('ip', 'addr', 'add', `${APP}/32`, 'dev', 'lo');
    ns.exec('ip', 'route', 'add', 'local', '10.77.0.0/16', 'dev', 'lo', 'table', '100');
    ns.exec('ip', 'rule', 'add', 'from', APP, 'lookup', '100');
    const fd = socketInNetns(ns.path, { family: 4, listen: { address: APP, port: 8080 } });
    app = await serveFd(fd, (s) => s.end(`from ${s.remoteAddress}`));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map(closeServer));
  });
  afterAll(async () => {
    if (app) await closeServer(app);
    ns?.remove();
  });

  async function reply(s: Socket): Promise<string> {
    let text = '';
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    await once(s, 'end');
    return text;
  }

  it('connects to the app with the client source address (IP_TRANSPARENT, marked)', async () => {
    const fd = socketInNetns(ns.path, {
      family: 4,
      transparent: true,
      mark: ZTUNNEL_MARK,
      bind: { address: CLIENT },
    });
    const s = await connectFd(fd, 8080, APP);
    sockets.push(s);
    expect(await reply(s)).toBe(`from ${CLIENT}`);
    expect(getMark(socketFd(s))).toBe(ZTUNNEL_MARK);
  });

  it('does the same in steps: setTransparent, setMark, bindTo, then connect', async () => {
    const fd = socketInNetns(ns.path, { family: 4 });
    setTransparent(fd, true);
    setMark(fd, ZTUNNEL_MARK);
    bindTo(fd, CLIENT, 0);
    const s = await connectFd(fd, 8080, APP);
    sockets.push(s);
    expect(await reply(s)).toBe(`from ${CLIENT}`);
  });

  it('cannot bind a non-local address without IP_TRANSPARENT (EADDRNOTAVAIL)', () => {
    expect(() => socketInNetns(ns.path, { family: 4, bind: { address: CLIENT } })).toThrow(
      expect.objectContaining({
        code: 'AMBIT_SOCKET',
        syscall: 'bind',
        errnoCode: 'EADDRNOTAVAIL',
      }),
    );
    const fd = socketInNetns(ns.path, { family: 4 });
    try {
      expect(() => bindTo(fd, CLIENT, 0)).toThrow(
        expect.objectContaining({ errnoCode: 'EADDRNOTAVAIL' }),
      );
    } finally {
      closeSync(fd);
    }
  });

  it('listens on an address not configured yet with IP_FREEBIND', () => {
    const listen = { address: '10.88.0.1', port: 9000 };
    expect(() => socketInNetns(ns.path, { family: 4, listen })).toThrow(
      expect.objectContaining({ errnoCode: 'EADDRNOTAVAIL' }),
    );
    closeSync(socketInNetns(ns.path, { family: 4, freebind: true, listen }));
    const fd = socketInNetns(ns.path, { family: 6 });
    try {
      setFreebind(fd, true);
      bindTo(fd, 'fd00::88', 9000);
    } finally {
      closeSync(fd);
    }
  });

  it('sets and reads back SO_MARK on a Node socket', async () => {
    const server = createServer((s) => s.on('error', () => {}).end());
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const s = connect(portOf(server), '127.0.0.1');
    sockets.push(s);
    await once(s, 'connect');
    expect(getMark(socketFd(s))).toBe(0);
    setMark(socketFd(s), 0xffffffff);
    expect(getMark(socketFd(s))).toBe(0xffffffff);
    setMark(socketFd(server), 7);
    expect(getMark(socketFd(server))).toBe(7);
  });

  it('reports EADDRINUSE from bindTo and EBADF for a socket without an fd', async () => {
    const fd = socketInNetns(ns.path, { family: 4 });
    try {
      expect(() => bindTo(fd, APP, 8080)).toThrow(
        expect.objectContaining({ code: 'AMBIT_SOCKET', errnoCode: 'EADDRINUSE' }),
      );
    } finally {
      closeSync(fd);
    }
    expect(() => socketFd(new Socket())).toThrow(
      expect.objectContaining({ code: 'AMBIT_SOCKET', errnoCode: 'EBADF' }),
    );
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    await closeServer(server);
    expect(() => socketFd(server)).toThrow(expect.objectContaining({ errnoCode: 'EBADF' }));
  });

  it('rejects an address of the wrong family and a non-socket fd', () => {
    const fd = socketInNetns(ns.path, { family: 4 });
    try {
      expect(() => bindTo(fd, '::1', 0)).toThrow(TypeError);
      expect(() => setMark(fd, -1)).toThrow(TypeError);
    } finally {
      closeSync(fd);
    }
    expect(() => getMark(0x7ffffff0)).toThrow(expect.objectContaining({ errnoCode: 'EBADF' }));
  });
});
