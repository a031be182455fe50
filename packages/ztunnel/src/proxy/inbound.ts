// Inbound HBONE (DESIGN.md: :15008), the "do" half of inbound-plan.ts: one HboneServer per local
// workload, on that workload's IP, presenting that workload's certificate. The server verifies
// the peer's chain and trust domain; authorize() plans with the peer identity (L4 policy, 401 on
// deny), dial() connects to the app at the workload's ip:port (503 when it cannot, or when the
// target is not this workload). Each stream is reported once (onStreamEnd) and registered while
// live, so a policy change or the drain can close it.

import { HboneUpstreamError } from '@ambit/core/errors';
import { dialTcp } from '@ambit/core/hbone/dial-tcp';
import { resetDuplex } from '@ambit/core/hbone/pipe';
import { HboneServer, type HboneRequestContext } from '@ambit/core/hbone/server';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { Socket } from 'node:net';
import type { Logger } from '@ambit/core/log';
import { canonicalIp, formatHostPort, type IpAddr, type PodIp } from '@ambit/core/mesh/ip';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import type {
  ConnectionHandle,
  ConnectionInfo,
  ConnectionTelemetry,
} from '../telemetry/connection-telemetry.ts';
import type { CloseCause, ConnectionRegistry } from './connection-registry.ts';
import { inboundDenyFlags, inboundInfo } from './inbound-info.ts';
import { planInbound, type InboundPlan } from './inbound-plan.ts';
import { closeCauseFlags } from './outbound.ts';
import { RESPONSE_FLAGS } from '@ambit/core/metrics/istio-labels';

export interface InboundDeps {
  nodeName: string;
  hbonePort: number;
  trustDomain: string;
  state: () => MeshSnapshot;
  telemetry: ConnectionTelemetry;
  registry: ConnectionRegistry;
  log: Logger;
  /** Connect timeout to the app (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Connects to the app (default dialTcp from ztunnel's own netns). In-pod mode: from inside the
   * pod's netns, with the client's address when the kernel allows it (`appSource` says which).
   */
  dialApp?(
    target: { host: string; port: number },
    client: { host: string; port: number },
    signal?: AbortSignal,
  ): Promise<{ socket: Socket; appSource: 'client' | 'pod' }>;
}

/** One stream between authorize and onStreamEnd. */
interface StreamState {
  plan: InboundPlan;
  info: ConnectionInfo;
  handle?: ConnectionHandle;
  remove?: () => void;
  cause?: CloseCause;
}

/** `for="ip:port"`, `for="[v6]:port"` or `for=ip` of the first forwarded element. */
export function forwardedFor(
  header: string | undefined,
): { host: string; port: number } | undefined {
  const m = /(?:^|[;,\s])for="?(?:\[([^\]]+)\]|([^":,;\s]+))(?::(\d+))?"?/i.exec(header ?? '');
  if (!m) return undefined;
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3] ?? 0) };
}

/** The HBONE server for one local workload at `workloadIp`. Call listen(), updateIdentity(), close(). */
export function createInboundHboneServer(opts: {
  workloadIp: PodIp;
  identity: TlsIdentity;
  deps: InboundDeps;
  /** A listening fd made elsewhere (in-pod mode: inside the pod netns); else workloadIp:hbonePort. */
  listenFd?: number;
}): HboneServer {
  const { workloadIp, deps } = opts;
  const streams = new WeakMap<HboneRequestContext, StreamState>();

  return new HboneServer({
    identity: opts.identity,
    trustDomain: deps.trustDomain,
    host: workloadIp,
    port: deps.hbonePort,
    ...(opts.listenFd !== undefined && { listenSocket: { fd: opts.listenFd } }),

    authorize(ctx) {
      const snapshot = deps.state();
      const source = forwardedFor(ctx.forwarded) ?? {
        host: ctx.remote.address,
        port: ctx.remote.port,
      };
      const plan = planInbound(
        snapshot,
        {
          localWorkloadIp: workloadIp as string as IpAddr,
          target: ctx.target,
          peerId: ctx.peerId,
          // Policy trusts the TCP peer, not `forwarded` (any authenticated peer can write that):
          // HBONE clients pool sessions per source workload IP and bind to it (docs/hbone.md).
          sourceIp: canonicalIp(ctx.remote.address) ?? ctx.remote.address,
        },
        { nodeName: deps.nodeName, hbonePort: deps.hbonePort },
      );
      const info = inboundInfo({ snapshot, plan, source, peerId: ctx.peerId, target: ctx.target });
      streams.set(ctx, { plan, info });
      if (plan.kind === 'deny' && plan.status === 401)
        return Promise.resolve({ deny: plan.reason });
      return Promise.resolve(true);
    },

    async dial(ctx, signal) {
      const st = streams.get(ctx);
      if (!st) throw new HboneUpstreamError(`no plan for ${ctx.authority}`);
      const plan = st.plan;
      if (plan.kind === 'deny') throw new HboneUpstreamError(plan.reason);
      const { socket, appSource } = deps.dialApp
        ? await deps.dialApp(plan.dial, st.info.sourceAddress, signal)
        : { socket: await dialTcp(plan.dial, signal, deps.connectTimeoutMs), appSource: undefined };
      if (appSource) st.info.appSource = appSource;
      st.handle = deps.telemetry.open(st.info);
      st.remove = deps.registry.add({
        direction: 'inbound',
        workload: plan.workload,
        request: {
          sourceId: ctx.peerId,
          sourceIp: st.info.sourceAddress.host,
          destinationIp: plan.dial.host,
          destinationPort: plan.dial.port,
        },
        close(cause) {
          st.cause = cause;
          resetDuplex(socket, new Error(cause.reason));
        },
      });
      if (plan.decision.audit?.length) {
        deps.log.info('audit policy matched', {
          policies: plan.decision.audit,
          source: ctx.peerId,
          destination: formatHostPort(plan.dial.host, plan.dial.port),
        });
      }
      return socket;
    },

    onStreamEnd(ctx, result) {
      if (ctx === undefined) {
        deps.log.warn('HBONE request refused before it could be read', {
          workload: workloadIp,
          status: result.status,
          error: result.error?.message,
        });
        return;
      }
      const st = streams.get(ctx);
      streams.delete(ctx);
      if (!st) return;
      if (st.handle) {
        st.remove?.();
        st.handle.sent(result.bytesFromClient);
        st.handle.received(result.bytesToClient);
        if (st.cause) {
          st.handle.close({
            responseFlags: closeCauseFlags(st.cause),
            error: new Error(st.cause.reason),
          });
        } else {
          st.handle.close(result.error ? { error: result.error } : {});
        }
      } else if (st.plan.kind === 'deny') {
        deps.telemetry.earlyDeny(st.info, inboundDenyFlags(st.plan.code), st.plan.reason);
      } else {
        // Authorized, but the app could not be reached (or the client left first).
        deps.telemetry.open(st.info).close({
          responseFlags: RESPONSE_FLAGS.connectionFailure,
          error: result.error ?? new Error(`status ${result.status}`),
        });
      }
    },
  });
}
