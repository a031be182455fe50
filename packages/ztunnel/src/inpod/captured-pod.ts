// One captured pod in in-pod mode: its three listeners inside its own netns — 15001 outbound
// capture, 15006 inbound plaintext, 15008 inbound HBONE with the pod's identity — all marked
// ZTUNNEL_MARK so the pod's rules skip ztunnel's own traffic; an HBONE pool whose sessions are
// dialled from inside the pod's netns (so to the network they come from the pod's IP); passthrough
// TCP from inside the pod's netns; and delivery to the app from inside it (AppDialer).

import { closeSync } from 'node:fs';
import { isIP } from 'node:net';
import { HbonePool } from '@ambit/core/hbone/pool';
import type { HboneServer } from '@ambit/core/hbone/server';
import { formatSpiffeId, type SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { InpodPod } from '@ambit/core/inpod/protocol';
import type { Logger } from '@ambit/core/log';
import type { PodIp } from '@ambit/core/mesh/ip';
import { workloadIdentity, type Workload, type WorkloadUid } from '@ambit/core/mesh/types';
import { socketInNetns, ZTUNNEL_MARK, originalDst, socketFd } from '@ambit/netns';
import { createInboundHboneServer, type InboundDeps } from '../proxy/inbound.ts';
import { InboundPlaintextListener } from '../proxy/inbound-plaintext.ts';
import type { OriginalDestination } from '../proxy/original-destination.ts';
import { OutboundProxy, type OutboundDeps } from '../proxy/outbound.ts';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';
import { AppDialer } from './app-dialer.ts';
import { connectFromPod, dialFromPod } from './dial-from-pod.ts';
import { OutboundCaptureListener } from './outbound-capture-listener.ts';

/** The in-pod ports (DESIGN.md). */
export interface InpodPorts {
  outbound: number;
  inboundPlaintext: number;
  hbone: number;
}
export const INPOD_PORTS: InpodPorts = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };

export interface CapturedPodDeps {
  state(): MeshSnapshot;
  certs: { get(id: SpiffeId): Promise<TlsIdentity>; peek(id: SpiffeId): TlsIdentity | undefined };
  inbound: InboundDeps;
  outbound: Omit<OutboundDeps, 'pool' | 'dialTcp'>;
  log: Logger;
  ports?: InpodPorts;
  /** Live HBONE streams of a released pod get this long (default 0: the pod is gone). */
  releaseGraceMs?: number;
}

/** The pod's workload in the mesh state: by uid, else by one of its IPs. */
export function workloadOfPod(s: MeshSnapshot, pod: InpodPod): Workload | undefined {
  const byUid = s.workloads.get(pod.uid as WorkloadUid);
  if (byUid) return byUid;
  for (const ip of pod.ips) {
    const w = s.workloadsByIp.get(ip as PodIp);
    if (w) return w;
  }
  return undefined;
}

/** The identity the pod's 15008 presents: its workload's, else the one its ServiceAccount gives. */
export function identityOfPod(s: MeshSnapshot, pod: InpodPod): SpiffeId {
  const w = workloadOfPod(s, pod);
  if (w) return workloadIdentity(w, s.mesh.trustDomain);
  return formatSpiffeId({
    trustDomain: s.mesh.trustDomain,
    namespace: pod.namespace,
    serviceAccount: pod.serviceAccount,
  });
}

/** SO_ORIGINAL_DST of a socket redirected to 15006; refuses the loop to 15006 itself. */
const soOriginalDst: OriginalDestination = (socket) => {
  let dst: { address: string; port: number };
  try {
    dst = originalDst(socketFd(socket));
  } catch (err) {
    return { ok: false, reason: `no original destination: ${(err as Error).message}` };
  }
  if (dst.address === socket.localAddress && dst.port === socket.localPort) {
    return { ok: false, reason: 'connection to the inbound plaintext port itself (it would loop)' };
  }
  return { ok: true, ip: dst.address, port: dst.port };
};

export class CapturedPod {
  readonly pod: InpodPod;
  readonly identity: SpiffeId;
  readonly pool: HbonePool;
  readonly appDialer: AppDialer;
  readonly #deps: CapturedPodDeps;
  #outbound: OutboundCaptureListener | undefined;
  #plaintext: InboundPlaintextListener | undefined;
  #hbone: HboneServer | undefined;
  #closed: Promise<void> | undefined;

  private constructor(pod: InpodPod, identity: SpiffeId, deps: CapturedPodDeps, podIp: string) {
    this.pod = pod;
    this.identity = identity;
    this.#deps = deps;
    this.pool = new HbonePool({ createSocket: (a) => connectFromPod(pod.netns, a) });
    this.appDialer = new AppDialer({
      netns: pod.netns,
      podIp,
      log: deps.log,
      ...(deps.inbound.connectTimeoutMs !== undefined && {
        connectTimeoutMs: deps.inbound.connectTimeoutMs,
      }),
    });
  }

  /**
   * Opens the pod's listeners in its netns; resolves once all three accept connections. Rejects
   * (having closed whatever it opened) on a bad netns path, a port in use, or no certificate.
   */
  static async open(pod: InpodPod, deps: CapturedPodDeps): Promise<CapturedPod> {
    const podIp = pod.ips.find((ip) => isIP(ip) === 4) ?? pod.ips[0];
    if (podIp === undefined) throw new Error(`pod ${pod.namespace}/${pod.name} has no IP`);
    const identity = identityOfPod(deps.state(), pod);
    const cert = await deps.certs.get(identity);
    const p = new CapturedPod(pod, identity, deps, podIp);
    try {
      await p.#listen(podIp as PodIp, deps.certs.peek(identity) ?? cert);
    } catch (err) {
      await p.close();
      throw err;
    }
    return p;
  }

  /** The pod's workload now (mesh state by uid or IP). */
  workload(): Workload | undefined {
    return workloadOfPod(this.#deps.state(), this.pod);
  }

  /** Listeners up (0..3; 3 when capturing). */
  get listeners(): number {
    return [this.#outbound, this.#plaintext, this.#hbone].filter((l) => l !== undefined).length;
  }

  updateIdentity(identity: TlsIdentity): void {
    this.#hbone?.updateIdentity(identity);
  }

  async #listen(podIp: PodIp, cert: TlsIdentity): Promise<void> {
    const d = this.#deps;
    const ports = d.ports ?? INPOD_PORTS;
    const { netns } = this.pod;
    // One listener per port, on every address of the pod: '::' (dual-stack) when it has IPv6.
    const v6 = this.pod.ips.some((ip) => isIP(ip) === 6);
    const listenFd = (port: number): number =>
      socketInNetns(netns, {
        family: v6 ? 6 : 4,
        mark: ZTUNNEL_MARK,
        listen: { address: v6 ? '::' : '0.0.0.0', port },
      });
    const inbound: InboundDeps = {
      ...d.inbound,
      dialApp: (target, client, signal) => this.appDialer.dial(target, client, signal),
    };
    const outbound = new OutboundProxy({
      ...d.outbound,
      pool: this.pool,
      dialTcp: (target, signal, timeoutMs) => dialFromPod(netns, target, { signal, timeoutMs }),
    });

    let fd = listenFd(ports.outbound);
    this.#outbound = new OutboundCaptureListener({
      fd,
      outbound,
      workload: () => this.workload(),
      log: d.log,
    });
    await this.#outbound.listen().catch((err: unknown) => this.#closeFd(fd, err));

    fd = listenFd(ports.inboundPlaintext);
    this.#plaintext = new InboundPlaintextListener({
      workloadIp: podIp,
      port: ports.inboundPlaintext,
      deps: inbound,
      originalDestination: soOriginalDst,
      listenFd: fd,
    });
    await this.#plaintext.listen().catch((err: unknown) => this.#closeFd(fd, err));

    fd = listenFd(ports.hbone);
    this.#hbone = createInboundHboneServer({
      workloadIp: podIp,
      identity: cert,
      deps: inbound,
      listenFd: fd,
    });
    await this.#hbone.listen().catch((err: unknown) => this.#closeFd(fd, err));
  }

  /** A listen({ fd }) that failed leaves the fd with us. */
  #closeFd(fd: number, err: unknown): never {
    try {
      closeSync(fd);
    } catch {
      // already closed by Node
    }
    throw err;
  }

  /**
   * Closes the listeners and stops the probe; idempotent. Live connections: with `graceMs` 0 (the
   * pod is gone) they are reset; otherwise (shutdown) HBONE streams get that long and captured
   * outbound ones are left to the drain.
   */
  close(graceMs = this.#deps.releaseGraceMs ?? 0): Promise<void> {
    this.#closed ??= (async () => {
      this.appDialer.close();
      const grace = graceMs;
      // The plaintext listener stops accepting at once; its close() also waits for live
      // connections (the registry's), which end with the pod: not awaited.
      void this.#plaintext?.close();
      await Promise.allSettled([
        this.#outbound?.close({ resetLive: grace === 0 }),
        this.#hbone?.close({ graceMs: grace }),
        this.pool.close({ graceMs: grace }),
      ]);
      await this.appDialer.probed;
    })();
    return this.#closed;
  }
}
