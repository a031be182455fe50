// The controller in Kubernetes mode, wired: informers → translation → config store → :15012
// (config stream + CA, served by every replica), and, on the leader only, the Waypoint
// reconciler, the status writer and the root ConfigMaps. docs/controller.md, "Kubernetes".
//
// Start-up: leader election and the informers start at once; the CA material is read from its
// Secret (the leader creates it if absent, followers wait for it); then :15012 listens with a
// serving certificate from that CA. Config is published only once every informer has listed, and
// /healthz turns ready when that has happened, the CA is loaded and the store holds every type.

import { CaService } from '@ambit/core/ca-service/server';
import { CertificateAuthority, type CaMaterial } from '@ambit/core/identity/ca';
import { formatSpiffeId } from '@ambit/core/identity/spiffe-id';
import { createLogger, type Logger } from '@ambit/core/log';
import { createMetricsRegistry, type Registry } from '@ambit/core/metrics/registry';
import { loadOrCreateCaMaterial, type CaMaterialSource } from './ca/ca-secret.ts';
import {
  createCaAuthenticator,
  createCallerLookup,
  createStreamAuthenticator,
} from './ca/kube-authenticators.ts';
import { RootCertPublisher } from './ca/root-cert-publisher.ts';
import { issueServingCert } from './ca/serving-cert.ts';
import { createTokenReviewer } from './ca/token-review.ts';
import { workloadCertTtlOptions, type ControllerConfig } from './config.ts';
import { createControllerMetrics, type ControllerMetrics } from './controller-metrics.ts';
import { LeaderElector } from './election/leader-elector.ts';
import { ClusterWatcher } from './kube/cluster-watcher.ts';
import { loadKubeConfig, makeKubeClients, type KubeClients } from './kube/kube-clients.ts';
import { TranslationLoop } from './kube/translation-loop.ts';
import { startMonitoringServer, type MonitoringServer } from './monitoring-server.ts';
import { ControllerServer } from './server/controller-server.ts';
import { StatusWriter } from './status/status-writer.ts';
import { ConfigStore } from './stream/config-store.ts';
import { ConfigStreamServer } from './stream/config-stream-server.ts';
import { WaypointReconciler } from './waypoint/waypoint-reconciler.ts';

export interface ControllerOptions {
  log?: Logger;
  registry?: Registry;
  /** Leader election retry period (default 2 s; tests shorten it). */
  retryPeriodMs?: number;
  /** Config stream debounce (default 100 ms). */
  streamDebounceMs?: number;
  /** Watch restart backoff bounds (tests shorten them). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class Controller {
  readonly config: ControllerConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly clients: KubeClients;
  readonly store = new ConfigStore();
  readonly elector: LeaderElector;
  readonly watcher: ClusterWatcher;
  readonly loop: TranslationLoop;
  readonly streams: ConfigStreamServer;
  readonly statusWriter: StatusWriter;
  readonly waypoints: WaypointReconciler;
  readonly rootConfigMaps: RootCertPublisher;
  readonly metrics: ControllerMetrics;
  #ca: CertificateAuthority | undefined;
  #caSource: CaMaterialSource | undefined;
  #server: ControllerServer | undefined;
  #monitoring: MonitoringServer | undefined;
  #rotate: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  #listenPort: number | undefined;
  readonly #caAuth: ReturnType<typeof createCaAuthenticator>;
  /** Writes this replica made (kind → count): tests check that only the leader writes. */
  readonly writes = new Map<string, number>();

  private constructor(config: ControllerConfig, o: ControllerOptions) {
    this.config = config;
    this.log =
      o.log ??
      createLogger({
        level: config.logLevel,
        fields: { component: 'controller', replica: config.identity },
      });
    this.registry = o.registry ?? createMetricsRegistry({ processMetrics: true });
    this.metrics = createControllerMetrics(this.registry);
    this.clients = makeKubeClients(loadKubeConfig(config.kubeconfig));
    const guard = (what: string): void => this.#guard(what);
    const isLeader = () => this.elector.isLeader();
    this.elector = new LeaderElector({
      coordination: this.clients.coordination,
      namespace: config.namespace,
      identity: config.identity,
      leaseDurationMs: config.leaseDurationMs,
      ...(o.retryPeriodMs !== undefined && { retryPeriodMs: o.retryPeriodMs }),
      log: this.log.child({ component: 'leader-election' }),
      onStartedLeading: () => {
        this.metrics.leader.set(1);
        this.waypoints.resetTerm();
        this.rootConfigMaps.resetTerm();
        void this.rootConfigMaps.sync();
        const last = this.loop.last();
        if (last) void this.statusWriter.update(last.statuses);
      },
      onStoppedLeading: () => this.metrics.leader.set(0),
    });
    this.watcher = new ClusterWatcher(this.clients, {
      log: this.log.child({ component: 'watch' }),
      onChange: () => this.#changed(),
      ...(o.minBackoffMs !== undefined && { minBackoffMs: o.minBackoffMs }),
      ...(o.maxBackoffMs !== undefined && { maxBackoffMs: o.maxBackoffMs }),
    });
    this.loop = new TranslationLoop({
      store: this.store,
      state: () => this.watcher.state(),
      ready: () => this.watcher.synced && this.#ca !== undefined,
      translateOptions: () => ({
        trustDomain: config.trustDomain,
        clusterDomain: config.clusterDomain,
        rootsPem: this.#ca?.roots ?? '',
      }),
      log: this.log.child({ component: 'translation' }),
      onTranslated: (t) => {
        this.metrics.translations.inc();
        if (this.elector.isLeader()) void this.statusWriter.update(t.statuses);
      },
    });
    const lookup = createCallerLookup(this.clients, this.watcher);
    const review = createTokenReviewer(this.clients.authn);
    const policy = { ztunnel: config.ztunnel };
    this.streams = new ConfigStreamServer({
      store: this.store,
      authenticate: createStreamAuthenticator({ review, policy, lookup }),
      log: this.log.child({ component: 'config-stream' }),
      registry: this.registry,
      ...(o.streamDebounceMs !== undefined && { debounceMs: o.streamDebounceMs }),
    });
    this.#caAuth = createCaAuthenticator({ review, policy, lookup });
    this.statusWriter = new StatusWriter({
      custom: this.clients.custom,
      watcher: this.watcher,
      guard,
      log: this.log.child({ component: 'status' }),
    });
    this.waypoints = new WaypointReconciler({
      clients: this.clients,
      watcher: this.watcher,
      config: { image: config.waypointImage, controllerAddress: config.waypointControllerAddress },
      guard,
      isLeader,
      log: this.log.child({ component: 'waypoints' }),
    });
    this.rootConfigMaps = new RootCertPublisher({
      clients: this.clients,
      watcher: this.watcher,
      roots: () => this.#ca?.roots ?? '',
      alwaysIn: [config.namespace],
      guard,
      isLeader,
      log: this.log.child({ component: 'root-configmaps' }),
    });
  }

  /** Starts everything; resolves once :15012 and :15014 listen (config may still be syncing). */
  static async start(config: ControllerConfig, opts: ControllerOptions = {}): Promise<Controller> {
    const c = new Controller(config, opts);
    try {
      await c.#start();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  async #start(): Promise<void> {
    const c = this.config;
    this.#monitoring = await startMonitoringServer({
      registry: this.registry,
      readiness: () => this.readiness(),
      host: c.monitoring.host,
      port: c.monitoring.port,
    });
    this.elector.start();
    this.watcher.start();
    this.waypoints.start();
    void this.watcher.whenSynced().then(() => {
      this.metrics.synced.set(1);
      this.log.info('informers synced');
      this.#changed();
    });
    const { material, source } = await loadOrCreateCaMaterial({
      core: this.clients.core,
      namespace: c.namespace,
      name: c.caSecret,
      trustDomain: c.trustDomain,
      mayCreate: () => this.elector.isLeader(),
      onWrite: (what) => this.#guard(what),
      log: this.log.child({ component: 'ca' }),
      signal: this.#abort.signal,
    });
    this.#caSource = source;
    this.#ca = await CertificateAuthority.load(material, {
      trustDomain: c.trustDomain,
      ...workloadCertTtlOptions(c),
    });
    const ca = new CaService({
      ca: this.#ca,
      authenticate: this.#caAuth,
      onResult: (r) => {
        this.metrics.csrs.inc({ result: r.status === 200 ? 'signed' : 'refused', code: r.code });
        if (r.status !== 200)
          this.log.info('certificate refused', {
            identity: r.identity,
            code: r.code,
            reason: r.error?.message,
          });
      },
    });
    const tls = await this.#servingCert(material);
    this.#server = new ControllerServer({
      tls,
      host: c.listen.host,
      port: c.listen.port,
      configStream: this.streams,
      ca,
      log: this.log.child({ component: 'controller-server' }),
    });
    this.#listenPort = (await this.#server.listen()).port;
    this.log.info('CA loaded', {
      source,
      roots: this.#ca.roots.split('BEGIN CERTIFICATE').length - 1,
    });
    this.#changed();
  }

  async #servingCert(material: CaMaterial): Promise<{ key: string; cert: string }> {
    const issued = await issueServingCert(material, {
      dnsNames: this.config.servingDnsNames,
      ipAddresses: this.config.servingIps,
      uri: formatSpiffeId({
        trustDomain: this.config.trustDomain,
        namespace: this.config.namespace,
        serviceAccount: 'ambit-controller',
      }),
    });
    // Re-issue at half-life; live sessions keep the old one.
    const half = Math.max(60_000, (issued.notAfter.getTime() - Date.now()) / 2);
    clearTimeout(this.#rotate);
    this.#rotate = setTimeout(
      () => {
        void this.#servingCert(material).then((tls) => this.#server?.updateTls(tls));
      },
      Math.min(half, 2 ** 31 - 1),
    );
    this.#rotate.unref();
    return { key: issued.key, cert: issued.cert };
  }

  /** Every write passes here: refused unless leader, counted per kind. */
  #guard(what: string): void {
    this.elector.guard(what);
    const kind = what.split(' ', 1)[0] ?? 'other';
    this.writes.set(kind, (this.writes.get(kind) ?? 0) + 1);
    this.metrics.writes.inc({ kind });
  }

  #changed(): void {
    this.loop.schedule();
    this.waypoints.schedule();
    void this.rootConfigMaps.sync();
  }

  /** The PEM roots of the mesh ('' until the CA is loaded). */
  get roots(): string {
    return this.#ca?.roots ?? '';
  }

  get caSource(): CaMaterialSource | undefined {
    return this.#caSource;
  }

  /** Where :15012 and :15014 listen (after start). */
  addresses(): { stream: { port: number }; monitoring: { port: number } } {
    return {
      stream: { port: this.#listenPort ?? 0 },
      monitoring: { port: this.#monitoring?.port ?? 0 },
    };
  }

  readiness(): { ready: boolean; reason?: string } {
    if (!this.watcher.synced)
      return { ready: false, reason: `not yet listed: ${this.watcher.unsynced().join(', ')}` };
    if (this.#ca === undefined)
      return { ready: false, reason: 'CA not loaded yet (waiting for the CA Secret)' };
    return this.streams.readiness();
  }

  /** Stops serving and watching. `release` hands the Lease over at once (clean shutdown). */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#abort.abort();
    clearTimeout(this.#rotate);
    this.loop.stop();
    this.streams.close();
    await this.#server?.close();
    await this.#monitoring?.close();
    await this.waypoints.stop();
    await this.watcher.stop();
    await this.elector.stop(opts);
  }
}
