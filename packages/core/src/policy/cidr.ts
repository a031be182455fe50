// CIDR parsing and membership for `ipBlocks`, `source.ip` and `destination.ip`. Membership uses
// node:net's BlockList; parsing is by hand because BlockList takes the prefix separately.

import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a single address (/32, /128); undefined if invalid. */
export function parseCidr(input: string): Cidr | undefined {
  const slash = input.indexOf('/');
  const address = (slash < 0 ? input : input.slice(0, slash)).toLowerCase();
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { family, address, prefix: max };
  const bits = input.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > max) return undefined;
  return { family, address, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** `::ffff:10.0.0.1` (how dual-stack sockets report IPv4 peers) → `10.0.0.1`. */
export function normalizeIp(ip: string): string {
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  return lower;
}

const compiled = new WeakMap<readonly string[], BlockList>();

/**
 * True when `ip` lies in one of `blocks` (already-validated CIDRs). An unparseable `ip` matches
 * nothing. BlockLists are cached per array, so policies compiled once stay cheap per request.
 */
export function ipInBlocks(blocks: readonly string[], ip: string): boolean {
  let list = compiled.get(blocks);
  if (list === undefined) {
    list = new BlockList();
    for (const b of blocks) {
      const c = parseCidr(b);
      if (c !== undefined) list.addSubnet(c.address, c.prefix, c.family);
    }
    compiled.set(blocks, list);
  }
  const addr = normalizeIp(ip);
  if (isIPv4(addr)) return list.check(addr, 'ipv4');
  if (isIPv6(addr)) return list.check(addr, 'ipv6');
  return false;
}
