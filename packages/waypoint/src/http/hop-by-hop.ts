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
  const str = (v: unknown): string =>
    typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : '';
  const named = str(h.connection)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':')) continue;
    const name = k.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.includes(name)) continue;
    // gRPC needs `te: trailers`; it is the one hop-by-hop value HTTP/2 allows.
    out[name] = Array.isArray(v)
      ? v.map((x) => str(x))
      : typeof v === 'number'
        ? String(v)
        : str(v);
  }
  if (str(h.te).toLowerCase() === 'trailers') out.te = 'trailers';
  return out;
}
