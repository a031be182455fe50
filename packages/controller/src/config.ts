// The controller's one door for configuration: flags and environment → one frozen
// ControllerConfig. Nothing else reads process.env or argv.
//
// Kubernetes mode (default): watches the API server (--kubeconfig, else in-cluster).
// File mode (--manifests <dir>): the same translation fed from a directory of YAML manifests, a
// local CA in --ca-dir, callers authenticated by a tokens file; for the local demo.

import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ControllerConfigError } from '@ambit/core/errors';
import type { LogLevel } from '@ambit/core/log';

export interface HostPort {
  host: string;
  port: number;
}

export interface ControllerConfig {
  mode: 'kubernetes' | 'file';
  /** Kubernetes mode: a kubeconfig file, or undefined for in-cluster. */
  kubeconfig?: string;
  /** File mode: the manifests directory. */
  manifestsDir?: string;
  /** File mode: where the local CA lives (ca-cert.pem, ca-key.pem, root-cert.pem; made if absent). */
  caDir?: string;
  /** File mode: YAML list of {token, ztunnel: <node>} / {token, waypoint: <ns>/<name>}. */
  tokensFile?: string;
  /** The controller's own namespace (Lease, CA Secret, ztunnel ServiceAccount). */
  namespace: string;
  trustDomain: string;
  clusterDomain: string;
  /** :15012 (config stream + CA). */
  listen: HostPort;
  /** :15014 (metrics, health). */
  monitoring: HostPort;
  /** This replica's name for leader election (the pod name). */
  identity: string;
  leaseDurationMs: number;
  caSecret: string;
  ztunnel: { namespace: string; serviceAccount: string };
  waypointImage: string;
  /** What waypoint pods dial for config and certificates. */
  waypointControllerAddress: string;
  /** DNS names and IPs of the serving certificate. */
  servingDnsNames: readonly string[];
  servingIps: readonly string[];
  logLevel: LogLevel;
  /**
   * Caps the lifetime of the workload certificates the CA issues (ztunnel, waypoints) and is the
   * default when a request names none; undefined: the CA's defaults (24 h, at most 7 days).
   */
  workloadCertTtlMs?: number;
}

/** Bounds of --workload-cert-ttl. Below a minute renewals (at half-life) come too close together. */
export const WORKLOAD_CERT_TTL_MIN_MS = 60_000;
export const WORKLOAD_CERT_TTL_MAX_MS = 7 * 24 * 3_600_000;

const OPTIONS = {
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster)' },
  manifests: {
    type: 'string',
    env: 'AMBIT_MANIFESTS',
    help: 'file mode: directory of YAML manifests',
  },
  'ca-dir': {
    type: 'string',
    env: 'AMBIT_CA_DIR',
    help: 'file mode: local CA directory (default <manifests>/.ambit-ca)',
  },
  'tokens-file': {
    type: 'string',
    env: 'AMBIT_TOKENS_FILE',
    help: "file mode: callers' tokens (YAML)",
  },
  namespace: {
    type: 'string',
    env: 'POD_NAMESPACE',
    help: 'controller namespace (default ambit-system)',
  },
  'trust-domain': {
    type: 'string',
    env: 'AMBIT_TRUST_DOMAIN',
    help: 'SPIFFE trust domain (default cluster.local)',
  },
  'cluster-domain': {
    type: 'string',
    env: 'AMBIT_CLUSTER_DOMAIN',
    help: 'cluster DNS domain (default cluster.local)',
  },
  listen: {
    type: 'string',
    env: 'AMBIT_LISTEN',
    help: 'config stream + CA address (default 0.0.0.0:15012)',
  },
  'monitoring-addr': {
    type: 'string',
    env: 'AMBIT_MONITORING_ADDR',
    help: 'metrics + health address (default 0.0.0.0:15014)',
  },
  identity: {
    type: 'string',
    env: 'POD_NAME',
    help: 'leader-election identity (default: host name)',
  },
  'lease-duration': {
    type: 'string',
    env: 'AMBIT_LEASE_DURATION',
    help: 'leader Lease duration in seconds (default 15)',
  },
  'ca-secret': {
    type: 'string',
    env: 'AMBIT_CA_SECRET',
    help: 'CA Secret name in the namespace (default ambit-ca)',
  },
  'ztunnel-sa': {
    type: 'string',
    env: 'AMBIT_ZTUNNEL_SA',
    help: 'ztunnel ServiceAccount <ns>/<name> (default <namespace>/ztunnel)',
  },
  'waypoint-image': { type: 'string', env: 'AMBIT_WAYPOINT_IMAGE', help: 'waypoint proxy image' },
  'waypoint-controller-address': {
    type: 'string',
    env: 'AMBIT_WAYPOINT_CONTROLLER_ADDRESS',
    help: 'controller host:port waypoints dial (default ambit-controller.<namespace>.svc:15012)',
  },
  'serving-dns': {
    type: 'string',
    env: 'AMBIT_SERVING_DNS',
    help: 'comma-separated DNS names of the 15012 certificate',
  },
  'serving-ip': {
    type: 'string',
    env: 'AMBIT_SERVING_IP',
    help: 'comma-separated IPs of the 15012 certificate (file mode default 127.0.0.1)',
  },
  'log-level': {
    type: 'string',
    env: 'AMBIT_LOG_LEVEL',
    help: 'debug, info, warn or error (default info)',
  },
  'workload-cert-ttl': {
    type: 'string',
    env: 'AMBIT_WORKLOAD_CERT_TTL',
    help: 'lifetime of workload certificates, e.g. 1h, 90s, 1h30m (1m to 168h; default 24h)',
  },
  help: { type: 'boolean', env: undefined, help: 'show this help' },
} as const;

export const USAGE = [
  'Usage: ambit-controller [--kubeconfig <file>] [options]',
  '       ambit-controller --manifests <dir> [--tokens-file <file>] [options]   (file mode)',
  '',
  ...Object.entries(OPTIONS).map(
    ([k, v]) => `  --${k.padEnd(28)} ${v.help}${v.env ? ` [$${v.env}]` : ''}`,
  ),
].join('\n');

function bad(what: string, why: string): never {
  throw new ControllerConfigError(`${what}: ${why}`);
}

export function parseHostPort(what: string, v: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (m === null || !(port >= 0 && port <= 65535))
    bad(what, `${JSON.stringify(v)} is not host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The CA's TTL options for a config: the flag caps every workload certificate and is the default. */
export function workloadCertTtlOptions(config: Pick<ControllerConfig, 'workloadCertTtlMs'>): {
  defaultTtlMs?: number;
  maxTtlMs?: number;
} {
  const ttl = config.workloadCertTtlMs;
  return ttl === undefined ? {} : { defaultTtlMs: Math.min(ttl, 24 * 3_600_000), maxTtlMs: ttl };
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000 };

/** A Go-style duration of whole hours, minutes and seconds (`24h`, `90s`, `1h30m`) in ms. */
export function parseDuration(what: string, v: string): number {
  const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (parts === null || v === '')
    bad(what, `${JSON.stringify(v)} is not a duration (e.g. 24h, 90s, 1h30m)`);
  return (['h', 'm', 's'] as const).reduce(
    (ms, unit, i) => ms + Number(parts[i + 1] ?? 0) * (UNIT_MS[unit] ?? 0),
    0,
  );
}

function list(v: string | undefined): string[] | undefined {
  return v
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Parses argv + env; returns 'help' for --help. Throws ControllerConfigError. */
export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = process.cwd(),
): ControllerConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type }])),
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values;
  } catch (err) {
    throw new ControllerConfigError(`${(err as Error).message}\n\n${USAGE}`, { cause: err });
  }
  if (values.help === true) return 'help';
  const get = (k: keyof typeof OPTIONS): string | undefined => {
    const flag = values[k];
    if (typeof flag === 'string') return flag;
    const name = OPTIONS[k].env;
    return name === undefined ? undefined : env[name] || undefined;
  };
  const manifests = get('manifests');
  const fileMode = manifests !== undefined;
  const namespace = get('namespace') ?? 'ambit-system';
  const trustDomain = get('trust-domain') ?? 'cluster.local';
  if (!/^[a-z0-9._-]+$/.test(trustDomain))
    bad('--trust-domain', `${JSON.stringify(trustDomain)} is not a trust domain`);
  const leaseSeconds = Number(get('lease-duration') ?? '15');
  if (!(leaseSeconds >= 2 && leaseSeconds <= 600)) bad('--lease-duration', 'use 2 to 600 seconds');
  const ztunnelSa = get('ztunnel-sa') ?? `${namespace}/ztunnel`;
  const [zns, zsa, ...extra] = ztunnelSa.split('/');
  if (!zns || !zsa || extra.length > 0)
    bad('--ztunnel-sa', `${JSON.stringify(ztunnelSa)} is not <namespace>/<name>`);
  const level = get('log-level') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    bad('--log-level', `${JSON.stringify(level)} is not debug, info, warn or error`);
  const ttlFlag = get('workload-cert-ttl');
  const workloadCertTtlMs =
    ttlFlag === undefined ? undefined : parseDuration('--workload-cert-ttl', ttlFlag);
  if (
    workloadCertTtlMs !== undefined &&
    !(
      workloadCertTtlMs >= WORKLOAD_CERT_TTL_MIN_MS && workloadCertTtlMs <= WORKLOAD_CERT_TTL_MAX_MS
    )
  )
    bad('--workload-cert-ttl', `${JSON.stringify(ttlFlag)}: use 1m to 168h`);
  const service = `ambit-controller.${namespace}`;
  const manifestsDir = manifests === undefined ? undefined : resolve(cwd, manifests);
  const kubeconfig = get('kubeconfig');
  const caDir = get('ca-dir');
  const tokensFile = get('tokens-file');
  return Object.freeze({
    mode: fileMode ? 'file' : 'kubernetes',
    ...(kubeconfig !== undefined && !fileMode && { kubeconfig: resolve(cwd, kubeconfig) }),
    ...(manifestsDir !== undefined && {
      manifestsDir,
      caDir: resolve(cwd, caDir ?? `${manifestsDir}/.ambit-ca`),
    }),
    ...(tokensFile !== undefined && { tokensFile: resolve(cwd, tokensFile) }),
    namespace,
    trustDomain,
    clusterDomain: get('cluster-domain') ?? 'cluster.local',
    listen: parseHostPort(
      '--listen',
      get('listen') ?? (fileMode ? '127.0.0.1:15012' : '0.0.0.0:15012'),
    ),
    monitoring: parseHostPort(
      '--monitoring-addr',
      get('monitoring-addr') ?? (fileMode ? '127.0.0.1:15014' : '0.0.0.0:15014'),
    ),
    identity: get('identity') ?? hostname(),
    leaseDurationMs: leaseSeconds * 1000,
    caSecret: get('ca-secret') ?? 'ambit-ca',
    ztunnel: { namespace: zns, serviceAccount: zsa },
    waypointImage: get('waypoint-image') ?? 'ghcr.io/ambit-mesh/waypoint:latest',
    waypointControllerAddress: get('waypoint-controller-address') ?? `${service}.svc:15012`,
    servingDnsNames: Object.freeze(
      list(get('serving-dns')) ?? [
        `${service}.svc`,
        `${service}.svc.cluster.local`,
        service,
        'ambit-controller',
        'localhost',
      ],
    ),
    servingIps: Object.freeze(list(get('serving-ip')) ?? (fileMode ? ['127.0.0.1'] : [])),
    logLevel: level as LogLevel,
    ...(workloadCertTtlMs !== undefined && { workloadCertTtlMs }),
  });
}
