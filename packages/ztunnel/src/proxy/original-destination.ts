// Where a plaintext inbound connection was going. With kernel capture (issue 4) that is
// SO_ORIGINAL_DST of the redirected socket. In explicit mode nothing is redirected: the client
// connects to <workload ip>:15006 itself, so the destination is decided by a rule instead. The dev
// rule (serviceTargetPort): the workload's own IP and the target port of the first port of the
// first service it backs. A workload that backs no service has no plaintext destination.

import type { Socket } from 'node:net';
import { serviceKey, type Workload } from '@ambit/core/mesh/types';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';

export type OriginalDestinationResult =
  { ok: true; ip: string; port: number } | { ok: false; reason: string };

/** Finds where an accepted plaintext connection for `workload` was really going. */
export type OriginalDestination = (
  socket: Socket,
  workload: Workload,
  snapshot: MeshSnapshot,
) => OriginalDestinationResult;

/** Explicit mode's rule: the workload IP and its first service's (first port's) target port. */
export const serviceTargetPort: OriginalDestination = (socket, workload, snapshot) => {
  const svc = snapshot.servicesByWorkload.get(workload.uid)?.[0];
  const first = svc?.ports[0];
  if (svc === undefined || first === undefined) {
    return {
      ok: false,
      reason: `workload ${workload.namespace}/${workload.name} backs no service, so plaintext on this port has no destination (explicit mode sends it to the first service port's targetPort)`,
    };
  }
  const endpoint = snapshot.endpoints
    .get(serviceKey(svc))
    ?.find((e) => e.workload.uid === workload.uid);
  const ip = socket.localAddress ?? workload.ips[0] ?? '';
  return { ok: true, ip, port: endpoint?.ports?.[first.port] ?? first.targetPort };
};
