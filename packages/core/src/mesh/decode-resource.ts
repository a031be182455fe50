import type { Authorization } from '../policy/types.ts';
import { type FieldReader, join } from './field-reader.ts';
import type { IpAddr, PodIp, ServiceVip } from './ip.ts';
import type {
  MeshConfig,
  MtlsMode,
  Service,
  ServiceEndpoint,
  ServicePort,
  WaypointRef,
  Workload,
  WorkloadUid,
} from './types.ts';

// Wire (JSON) → domain decoders for the resources of the config stream. Unknown fields are ignored
// (a newer controller may send more); missing or invalid ones fail with their path.

const MTLS_MODES: readonly MtlsMode[] = ['PERMISSIVE', 'STRICT'];

export function decodeWaypointRef(r: FieldReader, v: unknown, path: string): WaypointRef {
  const o = r.object(v, path);
  return {
    name: r.name(o.name, join(path, 'name')),
    namespace: r.name(o.namespace, join(path, 'namespace')),
    address: r.ip(o.address, join(path, 'address')) as IpAddr,
    hbonePort: r.port(o.hbonePort, join(path, 'hbonePort')),
    identity: r.spiffeId(o.identity, join(path, 'identity')),
  };
}

export function decodeWorkload(r: FieldReader, v: unknown, path: string): Workload {
  const o = r.object(v, path);
  const ips = r
    .array(o.ips, join(path, 'ips'))
    .map((ip, i) => r.ip(ip, join(join(path, 'ips'), i)) as PodIp);
  if (ips.length === 0) r.fail(join(path, 'ips'), 'a workload needs at least one IP');
  const w: Workload = {
    uid: r.string(o.uid, join(path, 'uid')) as WorkloadUid,
    name: r.name(o.name, join(path, 'name')),
    namespace: r.name(o.namespace, join(path, 'namespace')),
    serviceAccount: r.name(o.serviceAccount, join(path, 'serviceAccount')),
    node: r.string(o.node, join(path, 'node')),
    ips,
    protocol: r.oneOf(o.protocol, join(path, 'protocol'), ['HBONE', 'TCP'] as const),
    labels: r.labels(o.labels, join(path, 'labels')),
    workloadName: r.string(o.workloadName, join(path, 'workloadName')),
    canonicalName: r.string(o.canonicalName, join(path, 'canonicalName')),
    canonicalRevision: r.string(o.canonicalRevision, join(path, 'canonicalRevision')),
    healthy: r.boolean(o.healthy, join(path, 'healthy')),
  };
  if (o.waypoint !== undefined && o.waypoint !== null) {
    w.waypoint = decodeWaypointRef(r, o.waypoint, join(path, 'waypoint'));
  }
  if (o.locality !== undefined && o.locality !== null) {
    const l = r.object(o.locality, join(path, 'locality'));
    w.locality = {
      region: r.string(l.region, join(path, 'locality.region')),
      zone: r.string(l.zone, join(path, 'locality.zone')),
    };
  }
  return w;
}

export function decodeServicePort(r: FieldReader, v: unknown, path: string): ServicePort {
  const o = r.object(v, path);
  const p: ServicePort = {
    port: r.port(o.port, join(path, 'port')),
    targetPort: r.port(o.targetPort, join(path, 'targetPort')),
  };
  const name = r.optionalString(o.name, join(path, 'name'));
  if (name !== undefined) p.name = name;
  const appProtocol = r.optionalString(o.appProtocol, join(path, 'appProtocol'));
  if (appProtocol !== undefined) p.appProtocol = appProtocol;
  return p;
}

function decodeEndpoint(r: FieldReader, v: unknown, path: string): ServiceEndpoint {
  const o = r.object(v, path);
  const e: ServiceEndpoint = {
    workloadUid: r.string(o.workloadUid, join(path, 'workloadUid')) as WorkloadUid,
  };
  if (o.ports !== undefined && o.ports !== null) {
    const ports: Record<number, number> = {};
    for (const [k, target] of Object.entries(r.object(o.ports, join(path, 'ports')))) {
      const svcPort = r.port(Number(k), join(join(path, 'ports'), k));
      ports[svcPort] = r.port(target, join(join(path, 'ports'), k));
    }
    e.ports = ports;
  }
  return e;
}

export function decodeService(r: FieldReader, v: unknown, path: string): Service {
  const o = r.object(v, path);
  const s: Service = {
    name: r.name(o.name, join(path, 'name')),
    namespace: r.name(o.namespace, join(path, 'namespace')),
    hostname: r.string(o.hostname, join(path, 'hostname')),
    vips: r
      .array(o.vips, join(path, 'vips'))
      .map((ip, i) => r.ip(ip, join(join(path, 'vips'), i)) as ServiceVip),
    ports: r
      .array(o.ports, join(path, 'ports'))
      .map((p, i) => decodeServicePort(r, p, join(join(path, 'ports'), i))),
    endpoints: r
      .optionalArray(o.endpoints, join(path, 'endpoints'))
      .map((e, i) => decodeEndpoint(r, e, join(join(path, 'endpoints'), i))),
  };
  if (o.waypoint !== undefined && o.waypoint !== null) {
    s.waypoint = decodeWaypointRef(r, o.waypoint, join(path, 'waypoint'));
  }
  return s;
}

export function decodeMeshConfig(r: FieldReader, v: unknown, path: string): MeshConfig {
  const o = r.object(v, path);
  const modes: Record<string, MtlsMode> = {};
  if (o.namespaceMtlsModes !== undefined && o.namespaceMtlsModes !== null) {
    for (const [ns, m] of Object.entries(
      r.object(o.namespaceMtlsModes, join(path, 'namespaceMtlsModes')),
    )) {
      modes[ns] = r.oneOf(m, join(join(path, 'namespaceMtlsModes'), ns), MTLS_MODES);
    }
  }
  return {
    trustDomain: r.string(o.trustDomain, join(path, 'trustDomain')),
    mtlsMode: r.oneOf(o.mtlsMode, join(path, 'mtlsMode'), MTLS_MODES),
    namespaceMtlsModes: modes,
    rootsPem: typeof o.rootsPem === 'string' ? o.rootsPem : '',
  };
}

/**
 * Checks the outline of an Authorization (names, action, scope kind, rules list). The rules'
 * contents are the policy engine's to interpret; the controller built them with
 * authorizationFromSpec.
 */
export function decodeAuthorization(r: FieldReader, v: unknown, path: string): Authorization {
  const o = r.object(v, path);
  r.name(o.name, join(path, 'name'));
  r.name(o.namespace, join(path, 'namespace'));
  r.oneOf(o.action, join(path, 'action'), ['ALLOW', 'DENY', 'AUDIT'] as const);
  const scope = r.object(o.scope, join(path, 'scope'));
  r.oneOf(scope.kind, join(path, 'scope.kind'), [
    'namespace',
    'mesh',
    'selector',
    'targetRefs',
  ] as const);
  r.array(o.rules, join(path, 'rules')).forEach((rule, i) =>
    r.object(rule, join(join(path, 'rules'), i)),
  );
  return o as unknown as Authorization;
}
