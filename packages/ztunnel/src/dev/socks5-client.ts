// A minimal SOCKS5 client (no auth, CONNECT) for the demo and the tests: it connects from a given
// local address (how explicit mode tells workloads apart) and resolves with the socket once the
// proxy answered "succeeded", or rejects with a Socks5Refusal carrying the reply code. Written by
// hand: it is thirty lines, and the npm SOCKS clients cannot bind a local address per connection
// without extra plumbing.

import { connect, isIP, type Socket } from 'node:net';

export class Socks5Refusal extends Error {
  readonly reply: number;
  constructor(reply: number) {
    super(`SOCKS5 proxy refused the connection (reply ${reply})`);
    this.reply = reply;
  }
}

function address(host: string): Buffer {
  if (isIP(host) === 4) return Buffer.from([0x01, ...host.split('.').map(Number)]);
  if (isIP(host) === 6) {
    const full = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const [head = '', tail = ''] = full.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = full.includes('::')
      ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
      : h;
    const b = Buffer.alloc(17);
    b[0] = 0x04;
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 1 + 2 * i));
    return b;
  }
  const name = Buffer.from(host, 'latin1');
  return Buffer.concat([Buffer.from([0x03, name.length]), name]);
}

export function socks5Connect(opts: {
  proxy: { host: string; port: number };
  /** The workload's own IP: ztunnel identifies the source workload by it. */
  localAddress?: string;
  target: { host: string; port: number };
}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: opts.proxy.host,
      port: opts.proxy.port,
      ...(opts.localAddress !== undefined && { localAddress: opts.localAddress }),
      allowHalfOpen: true,
      noDelay: true,
    });
    let buf = Buffer.alloc(0);
    let stage: 'method' | 'reply' = 'method';
    const fail = (err: Error): void => {
      s.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'method') {
        if (buf.length < 2) return;
        if (buf[1] !== 0x00) return fail(new Error('SOCKS5 proxy accepts no no-auth method'));
        buf = buf.subarray(2);
        stage = 'reply';
        const port = Buffer.alloc(2);
        port.writeUInt16BE(opts.target.port);
        s.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address(opts.target.host), port]));
      }
      if (buf.length < 2) return;
      if (buf[1] !== 0x00) return fail(new Socks5Refusal(buf[1] ?? 0xff));
      if (buf.length < 10) return; // ztunnel always answers with an IPv4 bound address
      s.off('data', onData);
      s.off('error', fail);
      s.off('end', onEnd);
      s.pause();
      if (buf.length > 10) s.unshift(buf.subarray(10));
      resolve(s);
    };
    const onEnd = (): void => fail(new Error('SOCKS5 proxy closed the connection'));
    s.on('data', onData);
    s.once('error', fail);
    s.once('end', onEnd);
    s.once('connect', () => s.write(Buffer.from([0x05, 0x01, 0x00])));
  });
}
