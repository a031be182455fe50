// Services + EndpointSlices → Services. Endpoints are the slices' pod endpoints whose pod is a
// workload: ready ones, and terminating ones that still serve (their workload is unhealthy, so
// they get no new connections, but data planes know them while they drain). TCP ports only.
// A named targetPort is resolved per endpoint from the slices (which carry the resolved number
// under the Service port's name); the Service-level targetPort is the most common resolution,
// and endpoints that differ carry an override.

import { canonicalIp, type ServiceVip } from '@ambit/core/mesh/ip';
import type {
  Service,
  ServiceEndpoint,
  ServicePort,
  Workload,
  WorkloadUid,
} from '@ambit/core/mesh/types';
import type { ClusterIndex } from './cluster-index.ts';
import type { EndpointSlice, KubeService } from './cluster-state.ts';
import type { Warn } from './translation.ts';
import { selectWaypoint } from './waypoint-selection.ts';

export interface ServiceContext {
  index: ClusterIndex;
  trustDomain: string;
  clusterDomain: string;
  /** Translated workloads by uid: endpoints whose pod is not a workload are left out. */
  workloads: ReadonlyMap<string, Workload>;
  warn: Warn;
}

interface SpecPort {
  port: number;
  name: string;
  targetPort: number | string | undefined;
  appProtocol: string | undefined;
}

function tcpPorts(svc: KubeService): SpecPort[] {
  return (svc.spec?.ports ?? [])
    .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
    .map((p) => ({
      port: p.port,
      name: p.name ?? '',
      targetPort: p.targetPort,
      appProtocol: p.appProtocol,
    }));
}

/** An endpoint is listed when ready (unset means ready), or terminating but still serving. */
function endpointListed(c: { ready?: boolean; serving?: boolean } | undefined): boolean {
  return c?.ready !== false || c.serving === true;
}

/** Per workload uid: the resolved target port of each Service port (by Service port number). */
function resolvedPorts(
  slices: readonly EndpointSlice[],
  ports: readonly SpecPort[],
  workloads: ReadonlyMap<string, Workload>,
): Map<string, Map<number, number | undefined>> {
  const out = new Map<string, Map<number, number | undefined>>();
  for (const es of slices) {
    if (es.addressType === 'FQDN') continue;
    const byName = new Map((es.ports ?? []).map((p) => [p.name ?? '', p.port]));
    for (const ep of es.endpoints ?? []) {
      const uid = ep.targetRef?.kind === 'Pod' ? ep.targetRef.uid : undefined;
      if (uid === undefined || !workloads.has(uid) || !endpointListed(ep.conditions)) continue;
      if (out.has(uid)) continue; // dual-stack: the same pod in an IPv4 and an IPv6 slice
      out.set(uid, new Map(ports.map((p) => [p.port, byName.get(p.name)])));
    }
  }
  return out;
}

/** The most common value (ties: the lowest), or undefined. */
function mostCommon(values: readonly number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: [number, number] | undefined;
  for (const [v, n] of counts) {
    if (best === undefined || n > best[1] || (n === best[1] && v < best[0])) best = [v, n];
  }
  return best?.[0];
}

export function translateService(svc: KubeService, ctx: ServiceContext): Service | undefined {
  const m = svc.metadata;
  if (m?.name === undefined || m.namespace === undefined) return undefined;
  if (svc.spec?.type === 'ExternalName') return undefined;
  const key = `${m.namespace}/${m.name}`;
  const specPorts = tcpPorts(svc);
  const perEndpoint = resolvedPorts(
    ctx.index.slicesByService.get(key) ?? [],
    specPorts,
    ctx.workloads,
  );

  const ports: ServicePort[] = specPorts.map((p) => {
    let targetPort: number;
    if (typeof p.targetPort === 'number') targetPort = p.targetPort;
    else if (p.targetPort === undefined || p.targetPort === '') targetPort = p.port;
    else if (/^[0-9]+$/.test(p.targetPort)) targetPort = Number(p.targetPort);
    else {
      const seen = [...perEndpoint.values()].flatMap((r) => {
        const v = r.get(p.port);
        return v === undefined ? [] : [v];
      });
      // No endpoint to learn the number from: nothing can be reached anyway; the port itself
      // keeps the resource valid until endpoints appear.
      targetPort = mostCommon(seen) ?? p.port;
    }
    const sp: ServicePort = { port: p.port, targetPort };
    if (p.name !== '') sp.name = p.name;
    if (p.appProtocol !== undefined) sp.appProtocol = p.appProtocol;
    return sp;
  });

  const endpoints: ServiceEndpoint[] = [...perEndpoint.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([uid, resolved]) => {
      const e: ServiceEndpoint = { workloadUid: uid as WorkloadUid };
      const overrides: Record<number, number> = {};
      for (const sp of ports) {
        const r = resolved.get(sp.port);
        if (r !== undefined && r !== sp.targetPort) overrides[sp.port] = r;
      }
      if (Object.keys(overrides).length > 0) e.ports = overrides;
      return e;
    });

  const rawVips = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
  const vips = rawVips.flatMap((ip): ServiceVip[] => {
    const c = ip === 'None' ? undefined : canonicalIp(ip);
    return c === undefined ? [] : [c as ServiceVip];
  });
  const s: Service = {
    name: m.name,
    namespace: m.namespace,
    hostname: `${m.name}.${m.namespace}.svc.${ctx.clusterDomain}`,
    vips,
    ports,
    endpoints,
  };
  const waypoint = selectWaypoint(svc, `Service ${key}`, 'service', ctx);
  if (waypoint !== undefined) s.waypoint = waypoint;
  return s;
}

/** Every Service, sorted by `namespace/name`. */
export function translateServices(
  services: readonly KubeService[],
  ctx: ServiceContext,
): Service[] {
  const out: Service[] = [];
  for (const svc of services) {
    const s = translateService(svc, ctx);
    if (s !== undefined) out.push(s);
  }
  const k = (s: Service) => `${s.namespace}/${s.name}`;
  return out.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}
