// SOCKS5 (RFC 1928) for explicit mode: no authentication, CONNECT only, IPv4, IPv6 and domain
// targets (domains are mesh service hostnames, see resolve-hostname.ts). The source workload is the
// client's IP (each local workload binds its own 127.x.y.z). The success reply goes out only once
// the upstream is open; every failure gets its reply code and a log line, then the socket closes.

import type { Socket } from 'node:net';
import { canonicalIp, formatHostPort } from '@ambit/core/mesh/ip';
import type { ByteReader } from './byte-reader.ts';
import type { ExplicitContext } from './explicit-context.ts';
import type { OutboundFailureKind } from './outbound.ts';
import { resolveTarget } from './resolve-hostname.ts';

/** RFC 1928 §6 reply codes. */
export const SOCKS5_REPLY = Object.freeze({
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
});

const REPLY_FOR: Record<OutboundFailureKind, number> = {
  'not-allowed': SOCKS5_REPLY.notAllowed,
  unreachable: SOCKS5_REPLY.hostUnreachable,
  refused: SOCKS5_REPLY.connectionRefused,
  failed: SOCKS5_REPLY.generalFailure,
};

const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

/** A reply with an all-zero IPv4 bound address (clients ignore BND for CONNECT). */
function reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/** Sends the last bytes and closes; destroys a client that does not close its side. */
export function closeWith(socket: Socket, bytes: Buffer | string): void {
  socket.end(bytes);
  setTimeout(() => socket.destroy(), 2_000).unref();
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return canonicalIp(groups.join(':')) ?? groups.join(':');
}

/** Serves one SOCKS5 client whose first byte (version 5) is waiting in `reader`. */
export async function serveSocks5(
  socket: Socket,
  reader: ByteReader,
  ctx: ExplicitContext,
): Promise<void> {
  const client = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const refuse = (code: number, why: string, level: 'info' | 'warn' = 'warn'): void => {
    ctx.log[level]('socks5 request refused', {
      client: formatHostPort(client.host, client.port),
      reply: code,
      reason: why,
    });
    reader.release();
    closeWith(socket, reply(code));
  };

  const [, nMethods = 0] = await reader.read(2);
  const methods = await reader.read(nMethods);
  if (!methods.includes(NO_AUTH)) {
    reader.release();
    ctx.log.warn('socks5 client offers no acceptable method', {
      client: formatHostPort(client.host, client.port),
      methods: [...methods],
    });
    closeWith(socket, Buffer.from([0x05, NO_ACCEPTABLE_METHOD]));
    return;
  }
  socket.write(Buffer.from([0x05, NO_AUTH]));

  const head = await reader.read(4);
  const [version, cmd, , atyp] = head;
  if (version !== 0x05)
    return refuse(SOCKS5_REPLY.generalFailure, `bad request version ${version}`);
  let host: string;
  if (atyp === ATYP_IPV4) host = [...(await reader.read(4))].join('.');
  else if (atyp === ATYP_IPV6) host = ipv6(await reader.read(16));
  else if (atyp === ATYP_DOMAIN) {
    const [len = 0] = await reader.read(1);
    host = (await reader.read(len)).toString('latin1');
  } else {
    return refuse(SOCKS5_REPLY.addressTypeNotSupported, `address type ${atyp} is not supported`);
  }
  const port = (await reader.read(2)).readUInt16BE(0);
  if (cmd !== CMD_CONNECT) {
    return refuse(
      SOCKS5_REPLY.commandNotSupported,
      `command ${cmd} is not supported (only CONNECT)`,
    );
  }
  if (port === 0) return refuse(SOCKS5_REPLY.hostUnreachable, 'port 0');
  const target = resolveTarget(ctx.state(), host);
  if (!target.ok) return refuse(SOCKS5_REPLY.hostUnreachable, target.reason);

  reader.pause();
  const result = await ctx.outbound.open({
    client,
    destination: { ip: target.ip, port },
  });
  if (!result.ok) return refuse(REPLY_FOR[result.failure.kind], result.failure.reason, 'info');
  if (reader.failure || socket.destroyed) {
    result.tunnel.abandon(`client left during connect: ${reader.failure?.message ?? 'closed'}`);
    reader.release();
    socket.destroy();
    return;
  }
  reader.release();
  socket.write(reply(SOCKS5_REPLY.succeeded));
  await result.tunnel.run(socket);
}
