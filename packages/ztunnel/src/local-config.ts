// The local development config file (`ztunnel --config-file mesh.yaml`): mesh settings, nodes,
// waypoints, workloads, services and AuthorizationPolicies in one YAML document, turned into the
// same mesh resources the controller's config stream carries. Everything is validated first and
// errors name the field (`workloads[2].ip: "127.0.0.300" is not an IP address`); a file with any
// error is refused whole. docs/ztunnel-config.md documents the format with a full example.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { LocalConfigError, MeshError } from '@ambit/core/errors';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import { FieldReader, join, show } from '@ambit/core/mesh/field-reader';
import type { IpAddr, PodIp, ServiceVip } from '@ambit/core/mesh/ip';
import type {
  Locality,
  MtlsMode,
  Service,
  ServiceEndpoint,
  ServicePort,
  WaypointRef,
  Workload,
  WorkloadUid,
} from '@ambit/core/mesh/types';
import { authorizationFromSpec } from '@ambit/core/policy/from-spec';
import type { Authorization } from '@ambit/core/policy/types';
import { buildSnapshot, type MeshResources } from './state/mesh-snapshot.ts';

const MTLS_MODES: readonly MtlsMode[] = ['PERMISSIVE', 'STRICT'];
/** Kubernetes' cluster DNS domain, for default service hostnames (independent of the trust domain). */
const CLUSTER_DOMAIN = 'cluster.local';

/** Parses and validates the text of a local config file. Throws LocalConfigError naming the field. */
export function parseLocalConfig(text: string, fileName = 'config'): MeshResources {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new LocalConfigError(`${fileName}: not valid YAML: ${first?.message ?? 'parse error'}`, {
      cause: first,
    });
  }
  const r: FieldReader = new FieldReader((m) => new LocalConfigError(`${fileName}: ${m}`));
  const root: unknown = doc.toJS();
  // An empty file is what a watcher sees while an editor rewrites it; never apply it as "no mesh".
  if (root === null || root === undefined)
    r.fail('', 'the file is empty (write `{}` for an empty mesh)');
  const o = r.object(root, '');
  r.onlyKeys(o, '', ['mesh', 'nodes', 'waypoints', 'workloads', 'services', 'policies']);

  // mesh
  const m = o.mesh === undefined || o.mesh === null ? {} : r.object(o.mesh, 'mesh');
  r.onlyKeys(m, 'mesh', ['trustDomain', 'mtls', 'namespaces']);
  const trustDomain =
    m.trustDomain === undefined ? 'cluster.local' : r.string(m.trustDomain, 'mesh.trustDomain');
  try {
    formatSpiffeId({ trustDomain, namespace: 'a', serviceAccount: 'a' });
  } catch {
    r.fail(
      'mesh.trustDomain',
      `${show(trustDomain)} is not a SPIFFE trust domain (lower-case letters, digits, ".", "-", "_")`,
    );
  }
  const namespaceMtlsModes: Record<string, MtlsMode> = {};
  if (m.namespaces !== undefined && m.namespaces !== null) {
    for (const [ns, mode] of Object.entries(r.object(m.namespaces, 'mesh.namespaces'))) {
      r.name(ns, join('mesh.namespaces', ns));
      namespaceMtlsModes[ns] = r.oneOf(mode, join('mesh.namespaces', ns), MTLS_MODES);
    }
  }
  const mesh = {
    trustDomain,
    mtlsMode: m.mtls === undefined ? 'PERMISSIVE' : r.oneOf(m.mtls, 'mesh.mtls', MTLS_MODES),
    namespaceMtlsModes,
    rootsPem: '',
  };

  // nodes
  const nodes = new Map<string, Locality | undefined>();
  const nodeList = o.nodes === undefined ? undefined : r.optionalArray(o.nodes, 'nodes');
  nodeList?.forEach((v, i) => {
    const p = join('nodes', i);
    const n = r.object(v, p);
    r.onlyKeys(n, p, ['name', 'region', 'zone']);
    const name = r.name(n.name, join(p, 'name'));
    if (nodes.has(name)) r.fail(join(p, 'name'), `node ${show(name)} is listed twice`);
    const region = r.optionalString(n.region, join(p, 'region'));
    const zone = r.optionalString(n.zone, join(p, 'zone'));
    nodes.set(
      name,
      region === undefined && zone === undefined
        ? undefined
        : { region: region ?? '', zone: zone ?? '' },
    );
  });

  // waypoints
  const waypoints = new Map<string, WaypointRef>();
  r.optionalArray(o.waypoints, 'waypoints').forEach((v, i) => {
    const p = join('waypoints', i);
    const w = r.object(v, p);
    r.onlyKeys(w, p, ['name', 'namespace', 'address', 'port', 'serviceAccount']);
    const ref: WaypointRef = {
      name: r.name(w.name, join(p, 'name')),
      namespace: r.name(w.namespace ?? 'default', join(p, 'namespace')),
      address: r.ip(w.address, join(p, 'address')) as IpAddr,
      hbonePort: w.port === undefined ? 15008 : r.port(w.port, join(p, 'port')),
      identity: formatSpiffeId({
        trustDomain,
        namespace: r.name(w.namespace ?? 'default', join(p, 'namespace')),
        serviceAccount: r.name(w.serviceAccount ?? w.name, join(p, 'serviceAccount')),
      }),
    };
    const key = `${ref.namespace}/${ref.name}`;
    if (waypoints.has(key)) r.fail(join(p, 'name'), `waypoint ${key} is listed twice`);
    waypoints.set(key, ref);
  });
  const waypointRef = (v: unknown, path: string, namespace: string): WaypointRef | undefined => {
    if (v === undefined || v === null) return undefined;
    const name = r.string(v, path);
    const key = name.includes('/') ? name : `${namespace}/${name}`;
    const ref = waypoints.get(key);
    if (ref === undefined) r.fail(path, `no waypoint ${key} in waypoints`);
    return ref;
  };

  // workloads
  const workloads: Workload[] = [];
  const byUid = new Map<string, string>();
  const byIp = new Map<string, string>();
  const byName = new Map<string, Workload>();
  r.optionalArray(o.workloads, 'workloads').forEach((v, i) => {
    const p = join('workloads', i);
    const w = r.object(v, p);
    r.onlyKeys(w, p, [
      'uid',
      'name',
      'namespace',
      'serviceAccount',
      'node',
      'ip',
      'ips',
      'labels',
      'protocol',
      'healthy',
      'waypoint',
      'workloadName',
      'canonicalName',
      'canonicalRevision',
    ]);
    const name = r.name(w.name, join(p, 'name'));
    const namespace = r.name(w.namespace ?? 'default', join(p, 'namespace'));
    const node = r.name(w.node, join(p, 'node'));
    if (nodes.size > 0 && !nodes.has(node))
      r.fail(join(p, 'node'), `no node ${show(node)} in nodes`);
    if (w.ip !== undefined && w.ips !== undefined)
      r.fail(join(p, 'ips'), 'give ip or ips, not both');
    const ips =
      w.ips !== undefined
        ? r.array(w.ips, join(p, 'ips')).map((ip, j) => r.ip(ip, join(join(p, 'ips'), j)) as PodIp)
        : [r.ip(w.ip, join(p, 'ip')) as PodIp];
    if (ips.length === 0) r.fail(join(p, 'ips'), 'a workload needs an IP');
    ips.forEach((ip, j) => {
      const where = w.ips !== undefined ? join(join(p, 'ips'), j) : join(p, 'ip');
      const owner = byIp.get(ip);
      if (owner !== undefined) r.fail(where, `${show(ip)} is already the IP of ${owner}`);
      byIp.set(ip, `${p} (${namespace}/${name})`);
    });
    const uid = (
      w.uid === undefined ? `${namespace}/${name}` : r.string(w.uid, join(p, 'uid'))
    ) as WorkloadUid;
    const uidOwner = byUid.get(uid);
    if (uidOwner !== undefined)
      r.fail(
        join(p, w.uid === undefined ? 'name' : 'uid'),
        `uid ${show(uid)} is already used by ${uidOwner}`,
      );
    byUid.set(uid, p);
    const labels = r.labels(w.labels, join(p, 'labels'));
    const workloadName =
      w.workloadName === undefined ? name : r.string(w.workloadName, join(p, 'workloadName'));
    const workload: Workload = {
      uid,
      name,
      namespace,
      serviceAccount: r.name(w.serviceAccount ?? 'default', join(p, 'serviceAccount')),
      node,
      ips,
      protocol:
        w.protocol === undefined
          ? 'HBONE'
          : r.oneOf(w.protocol, join(p, 'protocol'), ['HBONE', 'TCP'] as const),
      labels,
      workloadName,
      canonicalName:
        w.canonicalName === undefined
          ? (labels['service.istio.io/canonical-name'] ?? labels.app ?? workloadName)
          : r.string(w.canonicalName, join(p, 'canonicalName')),
      canonicalRevision:
        w.canonicalRevision === undefined
          ? (labels['service.istio.io/canonical-revision'] ?? labels.version ?? 'latest')
          : r.string(w.canonicalRevision, join(p, 'canonicalRevision')),
      healthy: w.healthy === undefined ? true : r.boolean(w.healthy, join(p, 'healthy')),
    };
    const waypoint = waypointRef(w.waypoint, join(p, 'waypoint'), namespace);
    if (waypoint !== undefined) workload.waypoint = waypoint;
    const locality = nodes.get(node);
    if (locality !== undefined) workload.locality = locality;
    const nameKey = `${namespace}/${name}`;
    if (byName.has(nameKey)) r.fail(join(p, 'name'), `workload ${nameKey} is listed twice`);
    byName.set(nameKey, workload);
    workloads.push(workload);
  });

  // services
  const services: Service[] = [];
  const byVip = new Map<string, string>();
  const serviceKeys = new Set<string>();
  r.optionalArray(o.services, 'services').forEach((v, i) => {
    const p = join('services', i);
    const s = r.object(v, p);
    r.onlyKeys(s, p, [
      'name',
      'namespace',
      'hostname',
      'vip',
      'vips',
      'ports',
      'selector',
      'endpoints',
      'waypoint',
    ]);
    const name = r.name(s.name, join(p, 'name'));
    const namespace = r.name(s.namespace ?? 'default', join(p, 'namespace'));
    if (serviceKeys.has(`${namespace}/${name}`))
      r.fail(join(p, 'name'), `service ${namespace}/${name} is listed twice`);
    serviceKeys.add(`${namespace}/${name}`);
    if (s.vip !== undefined && s.vips !== undefined)
      r.fail(join(p, 'vips'), 'give vip or vips, not both');
    const vips =
      s.vips !== undefined
        ? r
            .array(s.vips, join(p, 'vips'))
            .map((ip, j) => r.ip(ip, join(join(p, 'vips'), j)) as ServiceVip)
        : [r.ip(s.vip, join(p, 'vip')) as ServiceVip];
    vips.forEach((vip, j) => {
      const where = s.vips !== undefined ? join(join(p, 'vips'), j) : join(p, 'vip');
      const owner = byVip.get(vip) ?? byIp.get(vip);
      if (owner !== undefined) r.fail(where, `${show(vip)} is already the address of ${owner}`);
      byVip.set(vip, `${p} (${namespace}/${name})`);
    });
    const ports = r
      .array(s.ports, join(p, 'ports'))
      .map((pv, j) => servicePort(r, pv, join(join(p, 'ports'), j)));
    if (ports.length === 0) r.fail(join(p, 'ports'), 'a service needs at least one port');
    const seenPorts = new Set<number>();
    ports.forEach((sp, j) => {
      if (seenPorts.has(sp.port))
        r.fail(join(join(join(p, 'ports'), j), 'port'), `port ${sp.port} is listed twice`);
      seenPorts.add(sp.port);
    });

    let endpoints: ServiceEndpoint[];
    if (s.selector !== undefined && s.endpoints !== undefined) {
      r.fail(join(p, 'endpoints'), 'give selector or endpoints, not both');
    } else if (s.selector !== undefined) {
      const selector = r.labels(s.selector, join(p, 'selector'));
      if (Object.keys(selector).length === 0)
        r.fail(join(p, 'selector'), 'an empty selector would select every workload');
      endpoints = workloads
        .filter(
          (w) =>
            w.namespace === namespace &&
            Object.entries(selector).every(([k, val]) => w.labels[k] === val),
        )
        .map((w) => ({ workloadUid: w.uid }));
    } else {
      endpoints = r.optionalArray(s.endpoints, join(p, 'endpoints')).map((ev, j) => {
        const ep = join(join(p, 'endpoints'), j);
        const e = typeof ev === 'string' ? { workload: ev } : r.object(ev, ep);
        r.onlyKeys(e, ep, ['workload', 'ports']);
        const ref = r.string(e.workload, join(ep, 'workload'));
        const wl = byName.get(ref.includes('/') ? ref : `${namespace}/${ref}`);
        if (wl === undefined)
          r.fail(join(ep, 'workload'), `no workload ${show(ref)} in namespace ${namespace}`);
        const endpoint: ServiceEndpoint = { workloadUid: wl.uid };
        if (e.ports !== undefined && e.ports !== null) {
          const overrides: Record<number, number> = {};
          for (const [k, target] of Object.entries(r.object(e.ports, join(ep, 'ports')))) {
            const svcPort = Number(k);
            if (!seenPorts.has(svcPort))
              r.fail(join(join(ep, 'ports'), k), `the service has no port ${k}`);
            overrides[svcPort] = r.port(target, join(join(ep, 'ports'), k));
          }
          endpoint.ports = overrides;
        }
        return endpoint;
      });
    }
    const service: Service = {
      name,
      namespace,
      hostname:
        s.hostname === undefined
          ? `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`
          : r.string(s.hostname, join(p, 'hostname')),
      vips,
      ports,
      endpoints,
    };
    const waypoint = waypointRef(s.waypoint, join(p, 'waypoint'), namespace);
    if (waypoint !== undefined) service.waypoint = waypoint;
    services.push(service);
  });

  // policies
  const policies: Authorization[] = r.optionalArray(o.policies, 'policies').map((v, i) => {
    try {
      return authorizationFromSpec(v);
    } catch (err) {
      if (err instanceof MeshError) r.fail(join('policies', i), err.message);
      throw err;
    }
  });

  const resources: MeshResources = { mesh, workloads, services, policies };
  try {
    buildSnapshot(resources, 0); // the remaining cross-checks (hostnames, policy names)
  } catch (err) {
    throw new LocalConfigError(`${fileName}: ${(err as Error).message}`, { cause: err });
  }
  return resources;
}

function servicePort(r: FieldReader, v: unknown, path: string): ServicePort {
  if (typeof v === 'number') {
    const port = r.port(v, path);
    return { port, targetPort: port };
  }
  const o = r.object(v, path);
  r.onlyKeys(o, path, ['port', 'targetPort', 'name', 'appProtocol']);
  const port = r.port(o.port, join(path, 'port'));
  const sp: ServicePort = {
    port,
    targetPort: o.targetPort === undefined ? port : r.port(o.targetPort, join(path, 'targetPort')),
  };
  const name = r.optionalString(o.name, join(path, 'name'));
  if (name !== undefined) sp.name = name;
  const appProtocol = r.optionalString(o.appProtocol, join(path, 'appProtocol'));
  if (appProtocol !== undefined) sp.appProtocol = appProtocol;
  return sp;
}

/** Reads and parses a local config file. Throws LocalConfigError. */
export async function loadLocalConfig(path: string): Promise<MeshResources> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new LocalConfigError(`cannot read config file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseLocalConfig(text, path);
}
