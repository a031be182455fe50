// Which waypoint a Service or a workload uses (DESIGN.md "Names"):
//  1. the object's own label `ambit.dev/use-waypoint` (a Service's or a Pod's): a Waypoint name in
//     the same namespace, or `none`;
//  2. else the Namespace's label, the same way;
//  3. else, in an ambient namespace with exactly one Waypoint, that Waypoint (the default).
// The most specific decision wins, including `none`. A Waypoint serves only the traffic its
// `spec.for` says (service, workload, all; default service): a label naming a waypoint of the
// wrong kind is reported and ignored; a namespace label or the default simply does not apply.
// The waypoint's own Service and pods (label `ambit.dev/waypoint`) never use a waypoint.

import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import { canonicalIp, type IpAddr } from '@ambit/core/mesh/ip';
import type { WaypointRef } from '@ambit/core/mesh/types';
import { labelsOf, type ClusterIndex } from './cluster-index.ts';
import type { Meta, Waypoint } from './cluster-state.ts';
import { namespaceIsAmbient } from './mesh-membership.ts';
import {
  USE_WAYPOINT_LABEL,
  WAYPOINT_HBONE_PORT,
  WAYPOINT_LABEL,
  waypointObjectNames,
} from './names.ts';
import type { Warn } from './translation.ts';

export type WaypointTraffic = 'service' | 'workload';

export function waypointServes(w: Waypoint, traffic: WaypointTraffic): boolean {
  const f = w.spec?.for ?? 'service';
  return f === 'all' || f === traffic;
}

/**
 * The WaypointRef of a Waypoint, or undefined when its Service (made by the reconciler, labelled
 * `ambit.dev/waypoint=<name>`) has no cluster IP yet.
 */
export function waypointRef(
  w: Waypoint,
  index: ClusterIndex,
  trustDomain: string,
): WaypointRef | undefined {
  const name = w.metadata?.name ?? '';
  const namespace = w.metadata?.namespace ?? '';
  const names = waypointObjectNames(name);
  const svc = index.services.get(`${namespace}/${names.service}`);
  if (svc === undefined || labelsOf(svc)[WAYPOINT_LABEL] !== name) return undefined;
  const ips = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
  const address = ips.map((ip) => canonicalIp(ip)).find((ip) => ip !== undefined);
  if (address === undefined) return undefined;
  return {
    name,
    namespace,
    address: address as IpAddr,
    hbonePort: WAYPOINT_HBONE_PORT,
    identity: formatSpiffeId({ trustDomain, namespace, serviceAccount: names.serviceAccount }),
  };
}

export interface WaypointSelectionContext {
  index: ClusterIndex;
  trustDomain: string;
  warn: Warn;
}

/** Decides the waypoint of a Service (`traffic: 'service'`) or a Pod (`'workload'`). */
export function selectWaypoint(
  obj: { metadata?: Meta },
  objDescription: string,
  traffic: WaypointTraffic,
  ctx: WaypointSelectionContext,
): WaypointRef | undefined {
  const namespace = obj.metadata?.namespace ?? '';
  if (labelsOf(obj)[WAYPOINT_LABEL] !== undefined) return undefined;
  const waypoints = ctx.index.waypointsByNamespace.get(namespace) ?? [];
  const ns = ctx.index.namespaces.get(namespace);

  const resolve = (w: Waypoint): WaypointRef | undefined => {
    const ref = waypointRef(w, ctx.index, ctx.trustDomain);
    if (ref === undefined) {
      const name = w.metadata?.name ?? '';
      ctx.warn(
        `Waypoint ${namespace}/${name}`,
        `has no Service ${waypointObjectNames(name).service} with label ${WAYPOINT_LABEL}=${name} and a cluster IP yet; what uses it is reached directly until it has one`,
      );
    }
    return ref;
  };
  const byLabel = (value: string, source: string, explicit: boolean) => {
    if (value === 'none') return undefined;
    const w = waypoints.find((x) => x.metadata?.name === value);
    if (w === undefined) {
      ctx.warn(
        objDescription,
        `${source} label ${USE_WAYPOINT_LABEL}=${value} names no Waypoint in namespace ${namespace}; no waypoint is used`,
      );
      return undefined;
    }
    if (!waypointServes(w, traffic)) {
      if (explicit) {
        ctx.warn(
          objDescription,
          `Waypoint ${namespace}/${value} is for ${w.spec?.for ?? 'service'} traffic, not ${traffic} traffic; no waypoint is used`,
        );
      }
      return undefined;
    }
    return resolve(w);
  };

  const own = labelsOf(obj)[USE_WAYPOINT_LABEL];
  if (own !== undefined) return byLabel(own, traffic === 'service' ? 'Service' : 'Pod', true);
  const nsLabel = labelsOf(ns)[USE_WAYPOINT_LABEL];
  if (nsLabel !== undefined) return byLabel(nsLabel, 'Namespace', false);
  const only = waypoints.length === 1 ? waypoints[0] : undefined;
  if (only !== undefined && namespaceIsAmbient(ns) && waypointServes(only, traffic)) {
    return resolve(only);
  }
  return undefined;
}
