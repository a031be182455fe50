import { isIP } from 'node:net';

/**
 * IP addresses, branded by what they name. A pod IP, a service VIP and an original destination are
 * all strings on the wire and easy to confuse; they are parsed once at the boundary (config stream,
 * local config file, SO_ORIGINAL_DST) into one of these, always in canonical form (IPv4 dotted quad,
 * IPv6 lower-case and compressed), so that map lookups by IP agree.
 */
/** An IP whose role is not known yet (e.g. a connection's original destination). */
export type IpAddr = string & { readonly __brand: 'IpAddr' };
/** The IP of one workload (a pod, a VM); what HBONE dials at :15008. */
export type PodIp = string & { readonly __brand: 'PodIp' };
/** A service's virtual IP; never dialed itself, always resolved to an endpoint. */
export type ServiceVip = string & { readonly __brand: 'ServiceVip' };

/** Canonical form of an IPv4/IPv6 literal, or undefined if `input` is not one (no zone ids, no brackets). */
export function canonicalIp(input: string): string | undefined {
  const family = isIP(input);
  if (family === 4) return input;
  if (family === 6) {
    if (input.includes('%')) return undefined;
    // The WHATWG URL parser serializes IPv6 hosts canonically (RFC 5952): lower case, longest zero run compressed.
    return new URL(`http://[${input}]/`).hostname.slice(1, -1);
  }
  return undefined;
}

/** Parses an IP whose role is unknown; undefined when `input` is not an IP literal. */
export function parseIpAddr(input: string): IpAddr | undefined {
  return canonicalIp(input) as IpAddr | undefined;
}

/** `ip:port`, with IPv6 in brackets: the form of an HTTP :authority and of log lines. */
export function formatHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** True for a TCP/UDP port number 1..65535. */
export function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}
