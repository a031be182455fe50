// The one door for ztunnel's configuration: command-line flags and AMBIT_* environment variables
// become one frozen, typed ZtunnelConfig. No other file reads process.argv or process.env.
// Precedence: flag, then environment variable, then default. docs/ztunnel-config.md lists them all.

import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ZtunnelConfigError } from '@ambit/core/errors';
import { isSpiffeId, type SpiffeId } from '@ambit/core/identity/spiffe-id';
import { canonicalIp } from '@ambit/core/mesh/ip';

export interface HostPort {
  host: string;
  /** 0 lets the OS choose (tests). */
  port: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where mesh config (workloads, services, policies) comes from. */
export type ConfigSource =
  /** A local YAML file, watched for changes (development; see local-config.ts). */
  | { kind: 'file'; path: string }
  /** The controller's config stream, authenticated with a ServiceAccount token. */
  | { kind: 'controller'; address: HostPort; tokenPath: string };

/** Where workload certificates come from. */
export type CaSource =
  /** A local development CA kept in a directory (created on first use). */
  | { kind: 'local'; dir: string }
  /** The controller's CA (CSR + ServiceAccount token). */
  | { kind: 'controller'; address: HostPort; tokenPath: string };

export interface ZtunnelConfig {
  /** The node this ztunnel serves: it proxies for the workloads whose `node` is this. */
  nodeName: string;
  source: ConfigSource;
  ca: CaSource;
  listen: {
    /** Admin API (/config_dump, /healthz); keep on localhost. */
    admin: HostPort;
    /** Prometheus /metrics. */
    metrics: HostPort;
    /** /healthz/ready. */
    readiness: HostPort;
    /** Explicit-mode SOCKS5 and HTTP CONNECT proxy (dev, non-root); undefined when off. */
    socks5: HostPort | undefined;
  };
  /**
   * The HBONE port on every workload IP: ztunnel accepts inbound HBONE on it at each local
   * workload's IP and dials it at remote ones. 15008; other values only for tests.
   */
  hbonePort: number;
  /** On SIGTERM: stop accepting, let connections finish for this long, then close them. */
  drainDeadlineMs: number;
  logLevel: LogLevel;
  /** The mesh's trust domain; must agree with the config source's MeshConfig. */
  trustDomain: string;
  /**
   * In-pod mode: the unix socket the CNI node agent hands captured pods over (absolute path).
   * Each pod then gets 15001/15006/15008 inside its own netns (needs root). Undefined: explicit mode.
   */
  inpodSocket?: string;
  /** Controller mode: the PEM roots the controller's and CA's certificates chain to (default in ztunnel.ts). */
  rootsFile?: string;
  /** Controller mode: check the controller's certificate by this SPIFFE ID instead of its DNS name. */
  controllerServerId?: SpiffeId;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const DEFAULT_TOKEN_PATH = '/var/run/secrets/tokens/ambit-token';

/** Each option: its flag, its environment variable, its help line. */
const OPTIONS = {
  'node-name': {
    env: 'AMBIT_NODE_NAME',
    help: 'node this ztunnel serves (default: $NODE_NAME, else the host name)',
  },
  'config-file': {
    env: 'AMBIT_CONFIG_FILE',
    help: 'local YAML mesh config (development); exclusive with --controller',
  },
  controller: {
    env: 'AMBIT_CONTROLLER',
    help: 'controller host:port for the config stream and CA (e.g. ambit-controller.ambit-system:15012)',
  },
  'token-path': {
    env: 'AMBIT_TOKEN_PATH',
    help: `ServiceAccount token for the controller (default ${DEFAULT_TOKEN_PATH})`,
  },
  'ca-dir': {
    env: 'AMBIT_CA_DIR',
    help: 'local development CA directory (default with --config-file: ./.ambit/ca)',
  },
  'ca-address': {
    env: 'AMBIT_CA_ADDRESS',
    help: 'CA host:port when it is not the controller address',
  },
  'admin-addr': {
    env: 'AMBIT_ADMIN_ADDR',
    help: 'admin API listen address (default 127.0.0.1:15000)',
  },
  'metrics-addr': {
    env: 'AMBIT_METRICS_ADDR',
    help: 'metrics listen address (default 127.0.0.1:15020)',
  },
  'readiness-addr': {
    env: 'AMBIT_READINESS_ADDR',
    help: 'readiness listen address (default 127.0.0.1:15021)',
  },
  'socks5-addr': {
    env: 'AMBIT_SOCKS5_ADDR',
    help: 'SOCKS5/HTTP-CONNECT listen address, or "off" (default 127.0.0.1:15080)',
  },
  'hbone-port': { env: 'AMBIT_HBONE_PORT', help: 'HBONE port on workload IPs (default 15008)' },
  'drain-deadline': {
    env: 'AMBIT_DRAIN_DEADLINE',
    help: 'how long to let connections finish on shutdown: 500ms, 30s, 2m (default 30s)',
  },
  'log-level': { env: 'AMBIT_LOG_LEVEL', help: 'debug, info, warn or error (default info)' },
  'trust-domain': { env: 'AMBIT_TRUST_DOMAIN', help: 'mesh trust domain (default cluster.local)' },
  'inpod-socket': {
    env: 'AMBIT_INPOD_SOCKET',
    help: 'in-pod mode (root): unix socket for the CNI node agent, e.g. /var/run/ambit/ztunnel.sock',
  },
  'roots-file': {
    env: 'AMBIT_ROOTS_FILE',
    help: 'controller mode: mesh root bundle (default /var/run/secrets/ambit/root-cert.pem)',
  },
  'controller-id': {
    env: 'AMBIT_CONTROLLER_ID',
    help: "controller mode: the controller's SPIFFE ID, checked instead of its DNS name",
  },
} as const;
type OptionName = keyof typeof OPTIONS;

/** The `--help` text. */
export const USAGE = [
  'Usage: ztunnel (--config-file <path> | --controller <host:port>) [options]',
  '',
  ...Object.entries(OPTIONS).map(
    ([flag, o]) => `  --${flag.padEnd(16)} ${o.env.padEnd(22)} ${o.help}`,
  ),
  '  --help                                  print this text',
].join('\n');

function bad(what: string, why: string): never {
  throw new ZtunnelConfigError(`${what}: ${why}`);
}

/** `host:port` or `[v6]:port`; host may be a name (the controller) or an IP. */
export function parseHostPort(what: string, input: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(input);
  if (m === null) bad(what, `${JSON.stringify(input)} is not host:port (IPv6 as [addr]:port)`);
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && canonicalIp(host) === undefined)
    bad(what, `${JSON.stringify(host)} is not an IPv6 address`);
  const port = Number(m[3]);
  if (port > 65535) bad(what, `port ${port} is above 65535`);
  return { host: canonicalIp(host) ?? host, port };
}

/** `500ms`, `30s`, `2m`, `1h`, or a bare number of milliseconds. */
export function parseDuration(what: string, input: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(input.trim());
  if (m === null) bad(what, `${JSON.stringify(input)} is not a duration like 500ms, 30s or 2m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/**
 * Builds the configuration from flags and environment. Throws ZtunnelConfigError
 * (AMBIT_ZTUNNEL_CONFIG) naming the flag or variable at fault. Returns `'help'` for --help.
 */
export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
  cwd: string = process.cwd(),
): ZtunnelConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.keys(OPTIONS).map((k) => [k, { type: 'string' as const }]),
    );
    ({ values } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ZtunnelConfigError(`${(err as Error).message}\n\n${USAGE}`, { cause: err });
  }
  if (values.help === true) return 'help';

  /** The value of an option and the name to blame when it is bad. */
  const get = (name: OptionName): { value: string; what: string } | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return { value: flag, what: `--${name}` };
    const e = env[OPTIONS[name].env];
    if (e !== undefined && e !== '') return { value: e, what: OPTIONS[name].env };
    return undefined;
  };
  const addr = (name: OptionName, dflt: string): HostPort => {
    const v = get(name);
    return parseHostPort(v?.what ?? `--${name}`, v?.value ?? dflt);
  };

  const nodeName = get('node-name')?.value ?? env.NODE_NAME ?? hostname();
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName)) {
    bad('--node-name', `${JSON.stringify(nodeName)} is not a Kubernetes node name`);
  }

  const file = get('config-file');
  const controller = get('controller');
  const tokenPath = resolve(cwd, get('token-path')?.value ?? DEFAULT_TOKEN_PATH);
  let source: ConfigSource;
  if (file !== undefined && controller !== undefined) {
    bad(`${file.what} and ${controller.what}`, 'give one config source, not both');
  } else if (file !== undefined) {
    source = { kind: 'file', path: resolve(cwd, file.value) };
  } else if (controller !== undefined) {
    source = {
      kind: 'controller',
      address: parseHostPort(controller.what, controller.value),
      tokenPath,
    };
  } else {
    bad(
      'config source',
      `give --config-file <path> (local development) or --controller <host:port>\n\n${USAGE}`,
    );
  }

  const caDir = get('ca-dir');
  const caAddress = get('ca-address');
  let ca: CaSource;
  if (caDir !== undefined) {
    ca = { kind: 'local', dir: resolve(cwd, caDir.value) };
  } else if (caAddress !== undefined) {
    ca = { kind: 'controller', address: parseHostPort(caAddress.what, caAddress.value), tokenPath };
  } else if (source.kind === 'controller') {
    ca = { kind: 'controller', address: source.address, tokenPath };
  } else {
    ca = { kind: 'local', dir: resolve(cwd, '.ambit/ca') };
  }

  const socks = get('socks5-addr');
  const hbone = get('hbone-port');
  let hbonePort = 15008;
  if (hbone !== undefined) {
    hbonePort = Number(hbone.value);
    if (!/^\d+$/.test(hbone.value) || hbonePort < 1 || hbonePort > 65535) {
      bad(hbone.what, `${JSON.stringify(hbone.value)} is not a port (1..65535)`);
    }
  }

  const drain = get('drain-deadline');
  const level = get('log-level');
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level.value)) {
    bad(level.what, `${JSON.stringify(level.value)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const trustDomain = get('trust-domain')?.value ?? 'cluster.local';
  if (!isSpiffeId(`spiffe://${trustDomain}/ns/a/sa/a`)) {
    bad(
      get('trust-domain')?.what ?? '--trust-domain',
      `${JSON.stringify(trustDomain)} is not a SPIFFE trust domain`,
    );
  }

  const inpod = get('inpod-socket');
  const roots = get('roots-file');
  const controllerId = get('controller-id');
  if (controllerId !== undefined && !isSpiffeId(controllerId.value)) {
    bad(controllerId.what, `${JSON.stringify(controllerId.value)} is not a SPIFFE ID`);
  }

  const config: ZtunnelConfig = {
    nodeName,
    source,
    ca,
    listen: {
      admin: addr('admin-addr', '127.0.0.1:15000'),
      metrics: addr('metrics-addr', '127.0.0.1:15020'),
      readiness: addr('readiness-addr', '127.0.0.1:15021'),
      socks5: socks?.value === 'off' ? undefined : addr('socks5-addr', '127.0.0.1:15080'),
    },
    hbonePort,
    drainDeadlineMs: drain === undefined ? 30_000 : parseDuration(drain.what, drain.value),
    logLevel: (level?.value as LogLevel | undefined) ?? 'info',
    trustDomain,
    ...(inpod !== undefined && { inpodSocket: resolve(cwd, inpod.value) }),
    ...(roots !== undefined && { rootsFile: resolve(cwd, roots.value) }),
    ...(controllerId !== undefined && { controllerServerId: controllerId.value as SpiffeId }),
  };
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
