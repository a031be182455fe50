// The waypoint's one configuration door: flags and environment → one frozen WaypointConfig.
// In a cluster the controller's reconciler (packages/controller/src/waypoint/waypoint-objects.ts)
// starts it with `--controller --token-path --roots-file` and WAYPOINT_NAME, POD_NAME,
// POD_NAMESPACE, NODE_NAME from the Downward API; the identity then comes from the controller's CA.
// For development: `--config-file` and `--identity-dir` (files written by writeIdentityFiles).

import { parseArgs } from 'node:util';
import { WaypointConfigError } from '@ambit/core/errors';
import { formatSpiffeId, isSpiffeId, type SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { ConfigOrigin } from './state/start-config-source.ts';

/** Where the waypoint's own certificate comes from. */
export type IdentityOrigin =
  /** Files in a directory (readIdentityFiles layout): development. */
  | { kind: 'files'; dir: string; name: string }
  /** The controller's CA: a CSR for `id`, authenticated with the ServiceAccount token; renewed at half-life. */
  | {
      kind: 'ca';
      id: SpiffeId;
      address: { host: string; port: number };
      tokenPath: string;
      rootsPath: string;
    };

export interface WaypointConfig {
  /** The Waypoint resource this process serves (its ServiceAccount has the same name). */
  name: string;
  namespace: string;
  /** This pod and node (logs only); undefined outside a cluster. */
  podName?: string;
  nodeName?: string;
  trustDomain: string;
  hbone: { host: string; port: number };
  /** The HBONE port of endpoint pods (15008; other values for development and benchmarks). */
  endpointHbonePort: number;
  metricsPort: number;
  readinessPort: number;
  origin: ConfigOrigin;
  identity: IdentityOrigin;
  /** Controller mode: check the controller's certificate by this SPIFFE ID instead of its DNS name. */
  controllerServerId?: SpiffeId;
  /** How long SIGTERM lets live connections finish (ms). */
  drainMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const DEFAULT_TOKEN_PATH = '/var/run/secrets/tokens/ambit-token';
export const DEFAULT_ROOTS_FILE = '/var/run/secrets/ambit/root-cert.pem';

export const USAGE = `waypoint (--controller HOST:PORT [--token-path F] [--roots-file F] [--controller-id SPIFFE-ID]
          | --config-file mesh.yaml --identity-dir DIR [--identity-name NAME])
  [--name NAME] [--namespace NS] [--trust-domain cluster.local]
  [--hbone HOST:PORT (0.0.0.0:15008)] [--endpoint-hbone-port 15008] [--metrics-port 15020] [--readiness-port 15021]
  [--drain-ms 10000] [--log-level info]
Environment: WAYPOINT_NAME (--name), POD_NAMESPACE (--namespace), POD_NAME, NODE_NAME,
  AMBIT_TRUST_DOMAIN. --token-path defaults to ${DEFAULT_TOKEN_PATH} (alias --token-file),
  --roots-file to ${DEFAULT_ROOTS_FILE}. With --controller and no --identity-dir the certificate
  comes from the controller's CA.`;

function port(what: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535)
    throw new WaypointConfigError(`${what}: ${JSON.stringify(v)} is not a port`);
  return n;
}

function hostPort(what: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  if (i <= 0) throw new WaypointConfigError(`${what}: ${JSON.stringify(v)} is not HOST:PORT`);
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: port(what, v.slice(i + 1)) };
}

const nonEmpty = (v: string | undefined): string | undefined => (v === '' ? undefined : v);

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): WaypointConfig {
  let f;
  try {
    ({ values: f } = parseArgs({
      args: [...argv],
      options: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        'trust-domain': { type: 'string' },
        hbone: { type: 'string' },
        'endpoint-hbone-port': { type: 'string' },
        'metrics-port': { type: 'string' },
        'readiness-port': { type: 'string' },
        'config-file': { type: 'string' },
        controller: { type: 'string' },
        'controller-id': { type: 'string' },
        'token-path': { type: 'string' },
        'token-file': { type: 'string' },
        'roots-file': { type: 'string' },
        'identity-dir': { type: 'string' },
        'identity-name': { type: 'string' },
        'drain-ms': { type: 'string' },
        'log-level': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new WaypointConfigError(`${(err as Error).message}\n${USAGE}`, { cause: err });
  }
  const name = f.name ?? nonEmpty(env.WAYPOINT_NAME);
  const namespace = f.namespace ?? nonEmpty(env.POD_NAMESPACE);
  if (!name || !namespace)
    throw new WaypointConfigError(
      `--name (WAYPOINT_NAME) and --namespace (POD_NAMESPACE) are required\n${USAGE}`,
    );
  const trustDomain = f['trust-domain'] ?? nonEmpty(env.AMBIT_TRUST_DOMAIN) ?? 'cluster.local';
  if (!isSpiffeId(`spiffe://${trustDomain}/ns/a/sa/a`))
    throw new WaypointConfigError(`--trust-domain: ${JSON.stringify(trustDomain)} is not valid`);

  if (f['config-file'] !== undefined && f.controller !== undefined)
    throw new WaypointConfigError('give one of --config-file or --controller, not both');
  if (f['token-path'] !== undefined && f['token-file'] !== undefined)
    throw new WaypointConfigError('--token-file is an alias of --token-path: give one');
  const tokenPath = f['token-path'] ?? f['token-file'] ?? DEFAULT_TOKEN_PATH;
  const rootsPath = f['roots-file'] ?? DEFAULT_ROOTS_FILE;
  const identityDir = f['identity-dir'];
  const identityName = f['identity-name'] ?? 'waypoint';

  const controllerId = f['controller-id'];
  if (controllerId !== undefined && !isSpiffeId(controllerId))
    throw new WaypointConfigError(
      `--controller-id: ${JSON.stringify(controllerId)} is not a SPIFFE ID`,
    );
  let origin: ConfigOrigin;
  let identity: IdentityOrigin;
  if (f['config-file'] !== undefined) {
    origin = { kind: 'file', path: f['config-file'] };
    if (identityDir === undefined)
      throw new WaypointConfigError(`--config-file needs --identity-dir\n${USAGE}`);
    identity = { kind: 'files', dir: identityDir, name: identityName };
  } else if (f.controller !== undefined) {
    const address = hostPort('--controller', f.controller);
    origin = {
      kind: 'controller',
      address,
      tokenPath,
      rootsPath,
      ...(controllerId !== undefined && { serverId: controllerId }),
    };
    identity =
      identityDir !== undefined
        ? { kind: 'files', dir: identityDir, name: identityName }
        : {
            kind: 'ca',
            id: formatSpiffeId({ trustDomain, namespace, serviceAccount: name }),
            address,
            tokenPath,
            rootsPath,
          };
  } else
    throw new WaypointConfigError(`one of --config-file or --controller is required\n${USAGE}`);

  const level = f['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new WaypointConfigError(`--log-level: ${JSON.stringify(level)}`);
  const drain = f['drain-ms'] ?? '10000';
  if (!/^\d+$/.test(drain)) throw new WaypointConfigError(`--drain-ms: ${JSON.stringify(drain)}`);
  const podName = nonEmpty(env.POD_NAME);
  const nodeName = nonEmpty(env.NODE_NAME);
  return Object.freeze({
    name,
    namespace,
    ...(podName !== undefined && { podName }),
    ...(nodeName !== undefined && { nodeName }),
    trustDomain,
    hbone: hostPort('--hbone', f.hbone ?? '0.0.0.0:15008'),
    endpointHbonePort: port('--endpoint-hbone-port', f['endpoint-hbone-port'] ?? '15008'),
    metricsPort: port('--metrics-port', f['metrics-port'] ?? '15020'),
    readinessPort: port('--readiness-port', f['readiness-port'] ?? '15021'),
    origin: Object.freeze(origin),
    identity: Object.freeze(identity),
    ...(controllerId !== undefined && { controllerServerId: controllerId }),
    drainMs: Number(drain),
    logLevel: level as WaypointConfig['logLevel'],
  });
}
