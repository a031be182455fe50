// Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the request's: never forwarded.

import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from './types.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

/** Lower-case end-to-end headers of a request or response; drops pseudo-headers and those named in `connection`. */
export function endToEndHeaders(h: IncomingHttpHeaders | Record<string, unknown>): HeaderMap {
  const out: HeaderMap = {};
  const connection = h.connection;
  const named =
    connection === undefined
      ? undefined
      : str(connection)
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter((s) => s !== '');
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.charCodeAt(0) === 58 /* ':' */) continue;
    const name = k.toLowerCase();
    if (HOP_BY_HOP.has(name) || named?.includes(name) === true) continue;
    out[name] = typeof v === 'string' ? v : Array.isArray(v) ? v.map((x) => str(x)) : str(v);
  }
  // gRPC needs `te: trailers`; it is the one hop-by-hop value HTTP/2 allows.
  const te = h.te;
  if (te !== undefined && str(te).toLowerCase() === 'trailers') out.te = 'trailers';
  return out;
}

function str(v: unknown): string {
  return typeof v === 'string'
    ? v
    : Array.isArray(v)
      ? v.join(',')
      : typeof v === 'number'
        ? String(v)
        : '';
}
