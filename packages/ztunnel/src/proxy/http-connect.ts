// HTTP CONNECT (RFC 9110 §9.3.6) for explicit mode, on the same port as SOCKS5: `CONNECT host:port
// HTTP/1.1`, host an IP ([v6] in brackets) or a mesh service hostname. 200 only once the upstream is
// open; refusals answer with a status and the reason as text. Plain proxying (GET http://...) is
// refused with 405: ztunnel carries TCP, it does not speak HTTP.

import type { Socket } from 'node:net';
import { formatHostPort } from '@ambit/core/mesh/ip';
import type { ByteReader } from './byte-reader.ts';
import type { ExplicitContext } from './explicit-context.ts';
import type { OutboundFailureKind } from './outbound.ts';
import { resolveTarget } from './resolve-hostname.ts';
import { closeWith } from './socks5.ts';

const STATUS_FOR: Record<OutboundFailureKind, number> = {
  'not-allowed': 403,
  unreachable: 503,
  refused: 502,
  failed: 502,
};

const REASON: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function answer(status: number, body: string, extra = ''): string {
  const text = `${body}\n`;
  return (
    `HTTP/1.1 ${status} ${REASON[status] ?? ''}\r\n` +
    `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
    `${extra}connection: close\r\n\r\n${text}`
  );
}

/** `host:port` or `[v6]:port` of a CONNECT request target. */
function parseTarget(t: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(t);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

/** Serves one client whose request line is waiting in `reader`. */
export async function serveHttpConnect(
  socket: Socket,
  reader: ByteReader,
  ctx: ExplicitContext,
): Promise<void> {
  const client = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const refuse = (status: number, why: string, extra = ''): void => {
    ctx.log.info('http connect refused', {
      client: formatHostPort(client.host, client.port),
      status,
      reason: why,
    });
    reader.release();
    closeWith(socket, answer(status, why, extra));
  };

  const head = (await reader.readUntil('\r\n\r\n')).toString('latin1');
  const line = head.slice(0, head.indexOf('\r\n'));
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!m) return refuse(400, `not an HTTP/1.1 request line: ${JSON.stringify(line.slice(0, 100))}`);
  if (m[1] !== 'CONNECT') {
    return refuse(
      405,
      `${m[1]} is not supported: this is a CONNECT/SOCKS5 proxy (curl -p, or --socks5)`,
      'allow: CONNECT\r\n',
    );
  }
  const target = parseTarget(m[2] ?? '');
  if (!target) return refuse(400, `CONNECT target ${JSON.stringify(m[2])} is not host:port`);
  const resolved = resolveTarget(ctx.state(), target.host);
  if (!resolved.ok) return refuse(502, resolved.reason);

  reader.pause();
  const result = await ctx.outbound.open({
    client,
    destination: { ip: resolved.ip, port: target.port },
  });
  if (!result.ok) return refuse(STATUS_FOR[result.failure.kind], result.failure.reason);
  if (reader.failure || socket.destroyed) {
    result.tunnel.abandon(`client left during connect: ${reader.failure?.message ?? 'closed'}`);
    reader.release();
    socket.destroy();
    return;
  }
  reader.release();
  socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
  await result.tunnel.run(socket);
}
