// Inbound plaintext (DESIGN.md: :15006), one listener per local workload on its IP: connections
// with no peer identity. planInbound allows them only in PERMISSIVE namespaces (and still applies
// L4 policy, with no principal); STRICT refuses them. The original destination comes from an
// OriginalDestination resolver (explicit mode: serviceTargetPort; with capture: SO_ORIGINAL_DST).

import { createServer, type Server, type Socket } from 'node:net';
import { dialTcp } from '@ambit/core/hbone/dial-tcp';
import { pipeBidirectional, resetDuplex } from '@ambit/core/hbone/pipe';
import { canonicalIp, formatHostPort, type IpAddr, type PodIp } from '@ambit/core/mesh/ip';
import { RESPONSE_FLAGS } from '@ambit/core/metrics/istio-labels';
import type { CloseCause } from './connection-registry.ts';
import { inboundDenyFlags, inboundInfo } from './inbound-info.ts';
import type { InboundDeps } from './inbound.ts';
import { planInbound } from './inbound-plan.ts';
import type { OriginalDestination } from './original-destination.ts';
import { closeCauseFlags } from './outbound.ts';

export class InboundPlaintextListener {
  readonly #server: Server;
  readonly #ip: PodIp;
  readonly #port: number;
  readonly #deps: InboundDeps;
  readonly #originalDestination: OriginalDestination;
  readonly #listenFd: number | undefined;

  constructor(opts: {
    workloadIp: PodIp;
    port: number;
    deps: InboundDeps;
    originalDestination: OriginalDestination;
    /** A listening fd made elsewhere (in-pod mode: inside the pod netns); else workloadIp:port. */
    listenFd?: number;
  }) {
    this.#listenFd = opts.listenFd;
    this.#ip = opts.workloadIp;
    this.#port = opts.port;
    this.#deps = opts.deps;
    this.#originalDestination = opts.originalDestination;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      s.on('error', () => {});
      void this.#serve(s);
    });
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      const done = (): void => {
        this.#server.off('error', reject);
        const a = this.#server.address() as { address: string; port: number };
        resolve({ address: a.address, port: a.port });
      };
      if (this.#listenFd !== undefined) this.#server.listen({ fd: this.#listenFd }, done);
      else this.#server.listen(this.#port, this.#ip, done);
    });
  }

  /** Stops accepting; live connections are the registry's and the drain's. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(socket: Socket): Promise<void> {
    const d = this.#deps;
    const snapshot = d.state();
    const source = {
      host: canonicalIp(socket.remoteAddress ?? '') ?? '',
      port: socket.remotePort ?? 0,
    };
    const workload = snapshot.workloadsByIp.get(this.#ip);
    const original = workload
      ? this.#originalDestination(socket, workload, snapshot)
      : { ok: false as const, reason: `no workload has IP ${this.#ip} any more` };
    if (!original.ok) {
      d.log.warn('plaintext connection refused', {
        source: formatHostPort(source.host, source.port),
        workload: this.#ip,
        reason: original.reason,
      });
      socket.destroy();
      return;
    }
    const target = { host: original.ip, port: original.port };
    const plan = planInbound(
      snapshot,
      {
        localWorkloadIp: this.#ip as string as IpAddr,
        target,
        peerId: undefined,
        sourceIp: source.host,
      },
      { nodeName: d.nodeName, hbonePort: d.hbonePort },
    );
    const info = inboundInfo({ snapshot, plan, source, peerId: undefined, target });
    if (plan.kind === 'deny') {
      d.telemetry.earlyDeny(info, inboundDenyFlags(plan.code), plan.reason);
      socket.destroy();
      return;
    }
    let upstream: Socket;
    try {
      if (d.dialApp) {
        const r = await d.dialApp(plan.dial, source);
        upstream = r.socket;
        info.appSource = r.appSource;
      } else upstream = await dialTcp(plan.dial, undefined, d.connectTimeoutMs);
    } catch (err) {
      d.telemetry
        .open(info)
        .close({ responseFlags: RESPONSE_FLAGS.connectionFailure, error: err as Error });
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    const handle = d.telemetry.open(info);
    let cause: CloseCause | undefined;
    const remove = d.registry.add({
      direction: 'inbound',
      workload: plan.workload,
      request: {
        sourceId: undefined,
        sourceIp: source.host,
        destinationIp: plan.dial.host,
        destinationPort: plan.dial.port,
      },
      close(c) {
        cause = c;
        resetDuplex(upstream, new Error(c.reason));
        resetDuplex(socket, new Error(c.reason));
      },
    });
    const piping = pipeBidirectional(socket, upstream);
    socket.on('data', (c: Buffer) => handle.sent(c.length));
    upstream.on('data', (c: Buffer) => handle.received(c.length));
    const r = await piping;
    remove();
    if (cause)
      handle.close({ responseFlags: closeCauseFlags(cause), error: new Error(cause.reason) });
    else handle.close(r.error ? { error: r.error } : {});
  }
}
