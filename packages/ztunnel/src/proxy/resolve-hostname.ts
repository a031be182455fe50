// Explicit mode has no DNS of its own: a SOCKS5 domain target or an HTTP CONNECT host name is looked
// up among the mesh's service hostnames (the full `name.ns.svc.cluster.local`, or the shorter
// `name.ns` and `name.ns.svc`), and becomes the service's VIP. Anything else is refused with a
// reason: ztunnel does not resolve names outside the mesh.

import { canonicalIp, type IpAddr } from '@ambit/core/mesh/ip';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';

export type HostnameResolution = { ok: true; ip: IpAddr } | { ok: false; reason: string };

/** An IP literal as is; else a mesh service hostname → its first VIP. */
export function resolveTarget(snapshot: MeshSnapshot, host: string): HostnameResolution {
  const literal = canonicalIp(host);
  if (literal !== undefined) return { ok: true, ip: literal as IpAddr };
  const name = host.toLowerCase().replace(/\.$/, '');
  const candidates = [name, `${name}.cluster.local`, `${name}.svc.cluster.local`];
  for (const c of candidates) {
    const svc = snapshot.servicesByHostname.get(c);
    const vip = svc?.vips[0];
    if (vip !== undefined) return { ok: true, ip: vip as string as IpAddr };
  }
  return {
    ok: false,
    reason: `${host} is not a service hostname in the mesh (ztunnel resolves only mesh services, e.g. name.namespace.svc.cluster.local); use an IP address`,
  };
}
