// The controller without Kubernetes, for the local demo: the same translation, config stream and
// CA, fed from a directory of YAML manifests (manifest-state.ts, re-read when the directory
// changes; a bad edit keeps the last good state), with a local root CA kept in `caDir`
// (ca-cert.pem, ca-key.pem, root-cert.pem; generated on first start) and callers authenticated by
// a tokens file (token-file.ts). The CA applies the Kubernetes mode's rule: a ztunnel gets only
// the identities of pods the manifests place on its node; a waypoint only its own.
//
// ztunnel against it: `ztunnel --controller 127.0.0.1:15012 --roots-file <caDir>/root-cert.pem
// --token-path <file holding a ztunnel token> --node-name <node>` (the serving certificate
// carries 127.0.0.1 and localhost).

import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaService } from '@ambit/core/ca-service/server';
import { CertificateAuthority, type CaMaterial } from '@ambit/core/identity/ca';
import { formatSpiffeId, parseSpiffeId } from '@ambit/core/identity/spiffe-id';
import { createLogger, type Logger } from '@ambit/core/log';
import { createMetricsRegistry, type Registry } from '@ambit/core/metrics/registry';
import { authorizeIdentity, type CallerLookup } from '../ca/caller-policy.ts';
import { issueServingCert } from '../ca/serving-cert.ts';
import { workloadCertTtlOptions, type ControllerConfig } from '../config.ts';
import { TranslationLoop } from '../kube/translation-loop.ts';
import { startMonitoringServer, type MonitoringServer } from '../monitoring-server.ts';
import { ControllerServer } from '../server/controller-server.ts';
import { ConfigStore } from '../stream/config-store.ts';
import { ConfigStreamServer } from '../stream/config-stream-server.ts';
import { emptyClusterState, type ClusterState } from '../translate/cluster-state.ts';
import { readManifestDir } from './manifest-state.ts';
import { readTokenFile, type TokenTable } from './token-file.ts';

export interface FileControllerOptions {
  log?: Logger;
  registry?: Registry;
  streamDebounceMs?: number;
}

async function loadOrCreateLocalCa(dir: string, trustDomain: string): Promise<CaMaterial> {
  const read = (n: string) => readFile(join(dir, n), 'utf8');
  try {
    return {
      caCertPem: await read('ca-cert.pem'),
      caKeyPem: await read('ca-key.pem'),
      rootCertPem: await read('root-cert.pem'),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const m = await CertificateAuthority.createRoot({ trustDomain });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'ca-key.pem'), m.caKeyPem, { mode: 0o600 });
  await writeFile(join(dir, 'ca-cert.pem'), m.caCertPem);
  await writeFile(join(dir, 'root-cert.pem'), m.rootCertPem);
  return m;
}

export class FileController {
  readonly config: ControllerConfig;
  readonly log: Logger;
  readonly store = new ConfigStore();
  readonly registry: Registry;
  #state: ClusterState = emptyClusterState();
  #loaded = false;
  #tokens: TokenTable = new Map();
  #ca!: CertificateAuthority;
  #loop!: TranslationLoop;
  #streams!: ConfigStreamServer;
  #server: ControllerServer | undefined;
  #monitoring: MonitoringServer | undefined;
  #watcher: FSWatcher | undefined;
  #reload: NodeJS.Timeout | undefined;
  #port = 0;

  private constructor(config: ControllerConfig, o: FileControllerOptions) {
    this.config = config;
    this.log =
      o.log ??
      createLogger({ level: config.logLevel, fields: { component: 'controller', mode: 'file' } });
    this.registry = o.registry ?? createMetricsRegistry({ processMetrics: true });
  }

  static async start(
    config: ControllerConfig,
    o: FileControllerOptions = {},
  ): Promise<FileController> {
    const c = new FileController(config, o);
    try {
      await c.#start(o);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  async #start(o: FileControllerOptions): Promise<void> {
    const cfg = this.config;
    const dir = cfg.manifestsDir ?? '.';
    const material = await loadOrCreateLocalCa(
      cfg.caDir ?? join(dir, '.ambit-ca'),
      cfg.trustDomain,
    );
    this.#ca = await CertificateAuthority.load(material, {
      trustDomain: cfg.trustDomain,
      ...workloadCertTtlOptions(cfg),
    });
    if (cfg.tokensFile !== undefined) this.#tokens = await readTokenFile(cfg.tokensFile);
    this.#loop = new TranslationLoop({
      store: this.store,
      state: () => this.#state,
      ready: () => this.#loaded,
      translateOptions: () => ({
        trustDomain: cfg.trustDomain,
        clusterDomain: cfg.clusterDomain,
        rootsPem: this.#ca.roots,
      }),
      log: this.log.child({ component: 'translation' }),
    });
    const identityOf = (token: string) => this.#tokens.get(token);
    this.#streams = new ConfigStreamServer({
      store: this.store,
      registry: this.registry,
      log: this.log.child({ component: 'config-stream' }),
      ...(o.streamDebounceMs !== undefined && { debounceMs: o.streamDebounceMs }),
      authenticate: (token) => {
        const id = identityOf(token);
        return Promise.resolve(
          id === undefined
            ? { ok: false, status: 401, reason: 'TokenInvalid: unknown token (see --tokens-file)' }
            : { ok: true, identity: id },
        );
      },
    });
    const lookup: CallerLookup = {
      pod: (ns, name) =>
        Promise.resolve(
          this.#state.pods.find((p) => p.metadata?.namespace === ns && p.metadata.name === name),
        ),
      podsOnNode: (node) =>
        Promise.resolve(this.#state.pods.filter((p) => p.spec?.nodeName === node)),
      waypoint: (ns, name) =>
        Promise.resolve(
          this.#state.waypoints.find(
            (w) => w.metadata?.namespace === ns && w.metadata.name === name,
          ),
        ),
    };
    const ca = new CaService({
      ca: this.#ca,
      authenticate: async (token, requested) => {
        const caller = identityOf(token);
        if (caller === undefined)
          return {
            allowed: false,
            status: 401,
            reason: 'TokenInvalid: unknown token (see --tokens-file)',
          };
        const p = parseSpiffeId(requested);
        return authorizeIdentity(
          caller,
          { namespace: p.namespace, serviceAccount: p.serviceAccount },
          lookup,
        );
      },
    });
    await this.#readManifests();
    const serving = await issueServingCert(material, {
      dnsNames: cfg.servingDnsNames,
      ipAddresses: cfg.servingIps,
      uri: formatSpiffeId({
        trustDomain: cfg.trustDomain,
        namespace: cfg.namespace,
        serviceAccount: 'ambit-controller',
      }),
      ttlMs: 365 * 24 * 3_600_000,
    });
    this.#server = new ControllerServer({
      tls: { key: serving.key, cert: serving.cert },
      host: cfg.listen.host,
      port: cfg.listen.port,
      configStream: this.#streams,
      ca,
      log: this.log.child({ component: 'controller-server' }),
    });
    this.#port = (await this.#server.listen()).port;
    this.#monitoring = await startMonitoringServer({
      registry: this.registry,
      readiness: () => this.#streams.readiness(),
      host: cfg.monitoring.host,
      port: cfg.monitoring.port,
    });
    this.#watcher = watch(dir, () => {
      clearTimeout(this.#reload);
      this.#reload = setTimeout(() => void this.#readManifests(), 100);
    });
  }

  async #readManifests(): Promise<void> {
    try {
      this.#state = await readManifestDir(this.config.manifestsDir ?? '.');
      this.#loaded = true;
      this.#loop.flush();
    } catch (err) {
      this.log.error('manifests not applied; keeping the last good state', { err });
    }
  }

  /** Re-reads the manifests now (tests; the directory watcher does this on changes). */
  reload(): Promise<void> {
    return this.#readManifests();
  }

  get roots(): string {
    return this.#ca.roots;
  }

  addresses(): { stream: { port: number }; monitoring: { port: number } } {
    return { stream: { port: this.#port }, monitoring: { port: this.#monitoring?.port ?? 0 } };
  }

  async stop(): Promise<void> {
    clearTimeout(this.#reload);
    this.#watcher?.close();
    this.#loop?.stop();
    this.#streams?.close();
    await this.#server?.close();
    await this.#monitoring?.close();
  }
}
