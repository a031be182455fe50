// ztunnel, wired: configuration → mesh state (local file or controller stream) → certificates
// (local development CA or the controller's CA) → per local workload an HBONE listener on
// <workload ip>:15008 with that workload's identity and a plaintext listener on <ip>:15006 →
// the explicit-mode SOCKS5/HTTP CONNECT listener → telemetry and admin endpoints → drain.
// In-pod mode (--inpod-socket): no per-IP listeners in ztunnel's own netns; the CNI node agent
// hands captured pods over the in-pod socket and each gets 15001/15006/15008 inside its own netns
// (inpod/inpod-manager.ts).
// Listeners follow the config: workloads that arrive get theirs, workloads that leave lose theirs
// (and their certificates are forgotten); every config change re-checks live connections.

import { CaClient } from '@ambit/core/ca-service/client';
import { createLocalCaIssuer } from '@ambit/core/ca-service/local-ca-issuer';
import { HbonePool } from '@ambit/core/hbone/pool';
import type { HboneServer } from '@ambit/core/hbone/server';
import { CertManager, type CertIssuer } from '@ambit/core/identity/cert-manager';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { Logger, LogSink } from '@ambit/core/log';
import type { PodIp } from '@ambit/core/mesh/ip';
import { workloadIdentity } from '@ambit/core/mesh/types';
import { InpodCaptureError } from '@ambit/core/errors';
import { InpodServer } from '@ambit/core/inpod/server';
import { enterNetns } from '@ambit/netns';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { startAdminServer } from './admin/admin-server.ts';
import type { HttpEndpoint } from './admin/http-endpoint.ts';
import { startMetricsServer } from './admin/metrics-server.ts';
import { startReadinessServer, ztunnelReadiness } from './admin/readiness-server.ts';
import type { HostPort, ZtunnelConfig } from './config.ts';
import { Drain, type DrainResult } from './drain.ts';
import { InpodManager } from './inpod/inpod-manager.ts';
import { ConnectionRegistry } from './proxy/connection-registry.ts';
import { ExplicitListener } from './proxy/explicit-listener.ts';
import { createInboundHboneServer, type InboundDeps } from './proxy/inbound.ts';
import { InboundPlaintextListener } from './proxy/inbound-plaintext.ts';
import { serviceTargetPort, type OriginalDestination } from './proxy/original-destination.ts';
import { OutboundProxy, type OutboundDeps } from './proxy/outbound.ts';
import type { MeshSnapshot } from './state/mesh-snapshot.ts';
import { MeshState } from './state/mesh-state.ts';
import { startConfigSource, type StartedConfigSource } from './state/start-config-source.ts';
import { createAccessLog } from './telemetry/access-log.ts';
import { createConnectionTelemetry } from './telemetry/connection-telemetry.ts';
import { createZtunnelLogger } from './telemetry/logger.ts';
import { ZtunnelMetrics } from './telemetry/metrics.ts';

/** Where the mesh root bundle is mounted in a cluster (controller mode). */
export const DEFAULT_ROOTS_FILE = '/var/run/secrets/ambit/root-cert.pem';

export interface ZtunnelOptions {
  config: ZtunnelConfig;
  /** Inbound plaintext port on every local workload IP (default 15006). */
  inboundPlaintextPort?: number;
  /** How plaintext inbound connections find their destination (default serviceTargetPort). */
  originalDestination?: OriginalDestination;
  /** Local development CA: leaf lifetime (default the CA's 24 h). */
  certTtlMs?: number;
  /** Controller mode: the PEM roots that the controller's and the CA's certificates chain to. */
  rootsFile?: string;
  /**
   * Controller mode: check the controller's (and CA's) certificate by this SPIFFE ID instead of
   * by the DNS name dialled (a controller serving with a mesh certificate).
   */
  controllerServerId?: SpiffeId;
  /** Where log lines (and access-log lines) go; default stdout. */
  logOut?: LogSink;
  /** Local file: re-read it this often besides change notifications (default 2 s). */
  configPollIntervalMs?: number;
}

/** The listeners of one local workload IP. */
interface WorkloadListeners {
  identity: SpiffeId;
  hbone: HboneServer;
  plaintext: InboundPlaintextListener | undefined;
}

export interface ZtunnelAddresses {
  admin: HostPort;
  metrics: HostPort;
  readiness: HostPort;
  socks5: HostPort | undefined;
}

export class Ztunnel {
  readonly config: ZtunnelConfig;
  readonly log: Logger;
  readonly state = new MeshState({
    onListenerError: (err) => this.log.error('state change listener failed', { err }),
  });
  readonly metrics = new ZtunnelMetrics();
  readonly drain = new Drain();
  readonly registry = new ConnectionRegistry({ drain: this.drain });
  readonly pool = new HbonePool();
  readonly #opts: ZtunnelOptions;
  #certs: CertManager | undefined;
  #source: StartedConfigSource | undefined;
  #endpoints: HttpEndpoint[] = [];
  readonly #listeners = new Map<PodIp, WorkloadListeners>();
  #reconciling: Promise<void> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  #addresses: ZtunnelAddresses | undefined;
  #shutdown: Promise<DrainResult> | undefined;
  #inpod: { manager: InpodManager; server: InpodServer } | undefined;

  private constructor(opts: ZtunnelOptions) {
    this.#opts = opts;
    this.config = opts.config;
    this.log = createZtunnelLogger({
      level: opts.config.logLevel,
      ...(opts.logOut && { out: opts.logOut }),
    });
  }

  /** Starts everything; rejects (after cleaning up) when the config or a listener cannot start. */
  static async start(opts: ZtunnelOptions): Promise<Ztunnel> {
    const z = new Ztunnel(opts);
    try {
      await z.#start();
    } catch (err) {
      await z.shutdown(0).catch(() => {});
      throw err;
    }
    return z;
  }

  get addresses(): ZtunnelAddresses {
    if (!this.#addresses) throw new Error('ztunnel not started');
    return this.#addresses;
  }

  get certs(): CertManager {
    if (!this.#certs) throw new Error('ztunnel not started');
    return this.#certs;
  }

  /** In-pod mode: the captured pods and their listeners; undefined in explicit mode. */
  get inpod(): InpodManager | undefined {
    return this.#inpod?.manager;
  }

  /** The IPs of local workloads whose listeners are up. */
  get listeningWorkloads(): readonly PodIp[] {
    return [...this.#listeners.keys()];
  }

  async #start(): Promise<void> {
    const c = this.config;
    const telemetry = createConnectionTelemetry({
      metrics: this.metrics,
      log: createAccessLog({
        level: c.logLevel,
        ...(this.#opts.logOut && { out: this.#opts.logOut }),
      }),
    });

    this.#certs = new CertManager({ issuer: await this.#issuer() });
    this.#certs.on('rotated', (id, identity) => this.#rotated(id, identity));
    this.#certs.on('failed', (id, err, retryInMs) =>
      this.log.warn('certificate request failed', { identity: id, err, retryInMs }),
    );

    this.state.onChange(({ current }) => this.#onChange(current));
    this.#source = await startConfigSource({
      config: c.source,
      nodeName: c.nodeName,
      state: this.state,
      controllerRootsFile: this.#rootsFile(),
      ...(this.#controllerServerId() && { controllerServerId: this.#controllerServerId() }),
      onError: (err) => this.log.warn('config update refused; the last good config stays', { err }),
      onReload: () =>
        this.log.info('config applied', { generation: this.state.current.generation }),
      ...(this.#opts.configPollIntervalMs !== undefined && {
        pollIntervalMs: this.#opts.configPollIntervalMs,
      }),
    });
    if (
      this.state.current.mesh.trustDomain !== c.trustDomain &&
      this.state.current.generation > 0
    ) {
      this.log.warn('trust domain of the mesh config differs from --trust-domain', {
        mesh: this.state.current.mesh.trustDomain,
        flag: c.trustDomain,
      });
    }

    const deps = this.#inboundDeps(telemetry);
    const outboundDeps = { ...deps, certs: this.#certs };
    const outbound = new OutboundProxy({ ...outboundDeps, pool: this.pool });
    this.#inbound = deps;
    let socks5: HostPort | undefined;
    if (c.listen.socks5) {
      const explicit = new ExplicitListener(
        { outbound, state: () => this.state.current, log: this.log.child({ scope: 'explicit' }) },
        c.listen.socks5,
      );
      const a = await explicit.listen();
      socks5 = { host: a.address, port: a.port };
      this.drain.onStopAccepting(() => void explicit.close());
    }
    if (c.inpodSocket) await this.#startInpod(c.inpodSocket, deps, outboundDeps);
    await this.#reconcile();

    this.metrics.setProviders({
      hbonePool: () => {
        const own = this.pool.stats();
        const pods = this.#inpod?.manager.poolStats() ?? { sessions: 0, streams: 0 };
        return { sessions: own.sessions + pods.sessions, streams: own.streams + pods.streams };
      },
      certificates: () => this.#heldCertificates(),
      config: () => {
        const s = this.#source?.status();
        const r = this.state.current.resources;
        return {
          connected: s?.connected ?? false,
          ...(s?.lastUpdateMs !== undefined && { lastUpdateMs: s.lastUpdateMs }),
          resources: {
            Workload: r.workloads.length,
            Service: r.services.length,
            Authorization: r.policies.length,
            MeshConfig: 1,
          },
        };
      },
    });
    const admin = await startAdminServer({
      ...c.listen.admin,
      configDump: {
        configSource: () => this.#source?.status() ?? { kind: c.source.kind, connected: false },
        snapshot: () => this.state.current,
        certificates: () => this.#heldCertificates(),
        liveConnections: () => this.registry.size,
      },
      onError: (err, path) => this.log.error('admin endpoint failed', { path, err }),
    });
    this.#endpoints.push(admin);
    const metrics = await startMetricsServer({
      ...c.listen.metrics,
      registry: this.metrics.registry,
    });
    this.#endpoints.push(metrics);
    const ready = ztunnelReadiness({
      configReceived: () => this.state.current.generation > 0,
      certificatesAvailable: () =>
        this.#localIdentities(this.state.current).every((id) => this.#certs?.peek(id)),
    });
    const readiness = await startReadinessServer({
      ...c.listen.readiness,
      readiness: () =>
        this.drain.draining ? { ready: false, reasons: ['draining: shutting down'] } : ready(),
    });
    this.#endpoints.push(readiness);
    this.#addresses = {
      admin: { host: admin.address, port: admin.port },
      metrics: { host: metrics.address, port: metrics.port },
      readiness: { host: readiness.address, port: readiness.port },
      socks5,
    };
    this.log.info('ztunnel started', {
      node: c.nodeName,
      source: this.#source.status().location,
      workloads: this.listeningWorkloads,
      socks5: socks5 && `${socks5.host}:${socks5.port}`,
      inpodSocket: c.inpodSocket,
      admin: `${admin.address}:${admin.port}`,
      metrics: `${metrics.address}:${metrics.port}`,
      readiness: `${readiness.address}:${readiness.port}`,
    });
  }

  #inbound: InboundDeps | undefined;

  /** In-pod mode: the handoff socket for the node agent and the captured pods behind it. */
  async #startInpod(
    socketPath: string,
    inbound: InboundDeps,
    outbound: Omit<OutboundDeps, 'pool' | 'dialTcp'>,
  ): Promise<void> {
    try {
      enterNetns('/proc/self/ns/net'); // proves setns works here before the agent relies on us
    } catch (err) {
      throw new InpodCaptureError(
        `in-pod mode needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run ztunnel as root): ${(err as Error).message}`,
        { cause: err },
      );
    }
    const certs = this.certs;
    const manager = new InpodManager({
      state: () => this.state.current,
      certs,
      inbound,
      outbound,
      log: this.log.child({ scope: 'inpod' }),
    });
    await mkdir(dirname(socketPath), { recursive: true });
    const server = new InpodServer({
      socketPath,
      handlers: manager,
      onError: (err) => this.log.warn('in-pod handoff', { err }),
    });
    await server.listen();
    this.#inpod = { manager, server };
  }

  #rootsFile(): string {
    return this.#opts.rootsFile ?? this.config.rootsFile ?? DEFAULT_ROOTS_FILE;
  }

  #controllerServerId(): SpiffeId | undefined {
    return this.#opts.controllerServerId ?? this.config.controllerServerId;
  }

  #inboundDeps(telemetry: ReturnType<typeof createConnectionTelemetry>): InboundDeps {
    return {
      nodeName: this.config.nodeName,
      hbonePort: this.config.hbonePort,
      trustDomain: this.config.trustDomain,
      state: () => this.state.current,
      telemetry,
      registry: this.registry,
      log: this.log,
    };
  }

  async #issuer(): Promise<CertIssuer> {
    const ca = this.config.ca;
    if (ca.kind === 'local') {
      const local = await createLocalCaIssuer({
        trustDomain: this.config.trustDomain,
        dir: ca.dir,
        ...(this.#opts.certTtlMs !== undefined && { ttlMs: this.#opts.certTtlMs }),
      });
      return local.issue;
    }
    const serverId = this.#controllerServerId();
    const client = new CaClient({
      host: ca.address.host,
      port: ca.address.port,
      rootsPem: await readFile(this.#rootsFile(), 'utf8'),
      token: { file: ca.tokenPath },
      ...(serverId && { serverId }),
    });
    return client.issuer;
  }

  /** Identities of the local workloads that get listeners (in the mesh, on this node). */
  #localIdentities(s: MeshSnapshot): SpiffeId[] {
    const ids = new Set<SpiffeId>();
    for (const w of s.workloadsByNode.get(this.config.nodeName) ?? []) {
      if (w.protocol === 'HBONE') ids.add(workloadIdentity(w, s.mesh.trustDomain));
    }
    return [...ids];
  }

  #heldCertificates(): TlsIdentity[] {
    const out: TlsIdentity[] = [];
    for (const id of this.#localIdentities(this.state.current)) {
      const t = this.#certs?.peek(id);
      if (t) out.push(t);
    }
    return out;
  }

  #onChange(current: MeshSnapshot): void {
    const { closed } = this.registry.recheck(current);
    for (const { cause } of closed) {
      this.log.warn('live connection closed after a config change', {
        cause: cause.kind,
        reason: cause.reason,
      });
    }
    void this.#reconcile();
    void this.#inpod?.manager.stateChanged();
  }

  /** Re-reads the config source now; resolves once listeners follow the result. */
  async reload(): Promise<void> {
    await this.#source?.source.reload();
    await this.#reconcile();
  }

  /** Serialized: brings the per-workload listeners in line with the current state. */
  #reconcile(): Promise<void> {
    this.#reconciling = this.#reconciling
      .then(() => this.#reconcileOnce())
      .catch((err: unknown) => {
        this.log.error('reconciling workload listeners failed', { err });
      });
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    if (this.#stopping || !this.#certs || !this.#inbound) return;
    const s = this.state.current;
    const desired = new Map<PodIp, SpiffeId>();
    for (const w of s.workloadsByNode.get(this.config.nodeName) ?? []) {
      if (w.protocol !== 'HBONE') continue;
      for (const ip of w.ips) desired.set(ip, workloadIdentity(w, s.mesh.trustDomain));
    }
    for (const [ip, l] of this.#listeners) {
      if (desired.get(ip) === l.identity) continue;
      this.#listeners.delete(ip);
      this.log.info('workload left this node: closing its listeners', { ip, identity: l.identity });
      void l.hbone.close({ graceMs: this.config.drainDeadlineMs });
      void l.plaintext?.close();
    }
    let retry = false;
    if (this.#inpod) {
      // In-pod mode: listeners live in the pods' netns (InpodManager); here only certificates
      // are kept warm, for local workloads and for captured pods.
      const ids = new Set([...desired.values(), ...this.#inpod.manager.identities()]);
      for (const id of ids) {
        await this.#certs.get(id).catch((err: unknown) => {
          this.log.error('no certificate for a local identity', { identity: id, err });
          retry = true;
        });
      }
      for (const snap of this.#certs.snapshot()) {
        if (!ids.has(snap.id)) this.#certs.forget(snap.id);
      }
      desired.clear();
    }
    for (const [ip, identity] of desired) {
      if (this.#listeners.has(ip)) continue;
      let cert: TlsIdentity;
      try {
        cert = await this.#certs.get(identity);
      } catch (err) {
        this.log.error('no certificate for a local workload; its listeners wait', {
          ip,
          identity,
          err,
        });
        retry = true;
        continue;
      }
      if (this.#stopping) return;
      const current = this.#certs.peek(identity) ?? cert;
      const hbone = createInboundHboneServer({
        workloadIp: ip,
        identity: current,
        deps: this.#inbound,
      });
      try {
        await hbone.listen();
      } catch (err) {
        this.log.error('cannot listen for HBONE on a local workload IP', {
          ip,
          port: this.config.hbonePort,
          hint: 'explicit mode needs each local workload on a loopback address (127.x.y.z) and the port free',
          err,
        });
        await hbone.close({ graceMs: 0 });
        continue;
      }
      const plaintext = new InboundPlaintextListener({
        workloadIp: ip,
        port: this.#opts.inboundPlaintextPort ?? 15006,
        deps: this.#inbound,
        originalDestination: this.#opts.originalDestination ?? serviceTargetPort,
      });
      let plaintextUp: InboundPlaintextListener | undefined = plaintext;
      try {
        await plaintext.listen();
      } catch (err) {
        this.log.error('cannot listen for plaintext inbound on a local workload IP', { ip, err });
        plaintextUp = undefined;
      }
      this.#listeners.set(ip, { identity, hbone, plaintext: plaintextUp });
      this.log.info('listening for a local workload', {
        ip,
        identity,
        hbonePort: this.config.hbonePort,
      });
    }
    // Identities no local workload uses any more: drop their certificates and renewals.
    const wanted = new Set(desired.values());
    for (const snap of this.#certs.snapshot()) {
      if (!this.#inpod && !wanted.has(snap.id)) this.#certs.forget(snap.id);
    }
    clearTimeout(this.#retryTimer);
    if (retry) {
      this.#retryTimer = setTimeout(() => void this.#reconcile(), 2_000);
      this.#retryTimer.unref();
    }
  }

  #rotated(id: SpiffeId, identity: TlsIdentity): void {
    for (const l of this.#listeners.values()) {
      if (l.identity === id) l.hbone.updateIdentity(identity);
    }
    this.#inpod?.manager.rotated(id, identity);
    this.log.debug('certificate rotated', {
      identity: id,
      notAfter: identity.notAfter.toISOString(),
    });
  }

  /**
   * Graceful shutdown (SIGTERM): stop accepting, let live connections finish until `deadlineMs`
   * (default --drain-deadline), force-close the rest, then stop everything else.
   */
  shutdown(deadlineMs = this.config.drainDeadlineMs): Promise<DrainResult> {
    this.#shutdown ??= this.#stop(deadlineMs);
    return this.#shutdown;
  }

  async #stop(deadlineMs: number): Promise<DrainResult> {
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    await this.#reconciling;
    const inpod = this.#inpod;
    if (inpod) {
      this.drain.onStopAccepting(() => {
        void inpod.server.close();
        void inpod.manager.close(deadlineMs);
      });
    }
    for (const l of this.#listeners.values()) {
      this.drain.onStopAccepting(() => {
        void l.hbone.close({ graceMs: deadlineMs });
        void l.plaintext?.close();
      });
    }
    const result = await this.drain.drain(deadlineMs);
    await this.#source?.source.close();
    await Promise.allSettled([
      this.pool.close(),
      inpod?.manager.close(0),
      ...[...this.#listeners.values()].map((l) => l.hbone.close({ graceMs: 0 })),
      ...this.#endpoints.map((e) => e.close()),
    ]);
    this.#listeners.clear();
    this.#certs?.close();
    this.log.info('ztunnel stopped', { ...result });
    return result;
  }
}
