import { isIP } from 'node:net';
import { HboneBadRequestError } from '../errors.ts';

/** Where a CONNECT asks to go. `host` is an IP (IPv6 without brackets) or a DNS name. */
export interface HboneTarget {
  host: string;
  port: number;
}

/** RFC 1123 hostname: dot-separated labels of letters, digits and inner dashes, 253 chars max. */
const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PORT_RE = /^[0-9]{1,5}$/;

function bad(raw: string, why: string): never {
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  throw new HboneBadRequestError(`bad CONNECT :authority ${JSON.stringify(shown)}: ${why}`);
}

/**
 * Parses a CONNECT `:authority` (`1.2.3.4:80`, `[fd00::1]:80`, `name.ns.svc:80`) into a target.
 * Throws HboneBadRequestError (400) for anything else: no port, port 0 or above 65535, userinfo,
 * bad IPv6 literal, characters a hostname cannot hold.
 */
export function parseAuthority(raw: string | undefined): HboneTarget {
  if (raw === undefined || raw === '') bad('', 'missing');
  const colon = raw.lastIndexOf(':');
  if (colon < 0) bad(raw, 'no port');
  const hostPart = raw.slice(0, colon);
  const portPart = raw.slice(colon + 1);
  if (!PORT_RE.test(portPart)) bad(raw, 'port is not a number');
  const port = Number(portPart);
  if (port < 1 || port > 65535) bad(raw, 'port out of range 1-65535');
  let host: string;
  if (hostPart.startsWith('[')) {
    if (!hostPart.endsWith(']')) bad(raw, 'unterminated IPv6 literal');
    host = hostPart.slice(1, -1);
    if (isIP(host) !== 6) bad(raw, 'not an IPv6 address');
  } else {
    host = hostPart;
    if (isIP(host) === 6) bad(raw, 'IPv6 address without brackets');
    if (isIP(host) === 0 && !HOSTNAME_RE.test(host))
      bad(raw, 'host is neither an IP nor a DNS name');
    if (/^[0-9.]+$/.test(host) && isIP(host) !== 4) bad(raw, 'not an IPv4 address');
  }
  return { host, port };
}

/** Formats a target as a CONNECT `:authority` (brackets around IPv6). */
export function formatAuthority(target: HboneTarget): string {
  return isIP(target.host) === 6
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
}
