// The waypoint's one configuration door: flags and environment → one frozen WaypointConfig.

import { parseArgs } from 'node:util';
import { WaypointConfigError } from '@ambit/core/errors';
import type { ConfigOrigin } from './state/start-config-source.ts';

export interface WaypointConfig {
  /** The Waypoint resource this process serves. */
  name: string;
  namespace: string;
  hbone: { host: string; port: number };
  metricsPort: number;
  readinessPort: number;
  origin: ConfigOrigin;
  /** Directory with the identity files (readIdentityFiles layout) and its file prefix. */
  identityDir: string;
  identityName: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const USAGE = `waypoint --name NAME --namespace NS --identity-dir DIR [--identity-name NAME]
  (--config-file mesh.yaml | --controller HOST:PORT --token-file F --roots-file F)
  [--hbone HOST:PORT (0.0.0.0:15008)] [--metrics-port 15020] [--readiness-port 15021] [--log-level info]
Environment: WAYPOINT_NAME, POD_NAMESPACE.`;

function port(what: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new WaypointConfigError(`${what}: ${JSON.stringify(v)} is not a port`);
  return n;
}

function hostPort(what: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  if (i <= 0) throw new WaypointConfigError(`${what}: ${JSON.stringify(v)} is not HOST:PORT`);
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port: port(what, v.slice(i + 1)) };
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): WaypointConfig {
  const { values: f } = parseArgs({
    args: [...argv],
    options: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      hbone: { type: 'string' },
      'metrics-port': { type: 'string' },
      'readiness-port': { type: 'string' },
      'config-file': { type: 'string' },
      controller: { type: 'string' },
      'token-file': { type: 'string' },
      'roots-file': { type: 'string' },
      'identity-dir': { type: 'string' },
      'identity-name': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  const name = f.name ?? env.WAYPOINT_NAME;
  const namespace = f.namespace ?? env.POD_NAMESPACE;
  if (!name || !namespace)
    throw new WaypointConfigError(`--name and --namespace are required\n${USAGE}`);
  if (!f['identity-dir']) throw new WaypointConfigError(`--identity-dir is required\n${USAGE}`);
  let origin: ConfigOrigin;
  if (f['config-file'] !== undefined) origin = { kind: 'file', path: f['config-file'] };
  else if (f.controller !== undefined) {
    if (!f['token-file'] || !f['roots-file'])
      throw new WaypointConfigError('--controller needs --token-file and --roots-file');
    origin = {
      kind: 'controller',
      address: hostPort('--controller', f.controller),
      tokenPath: f['token-file'],
      rootsPath: f['roots-file'],
    };
  } else
    throw new WaypointConfigError(`one of --config-file or --controller is required\n${USAGE}`);
  const level = f['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new WaypointConfigError(`--log-level: ${level}`);
  return Object.freeze({
    name,
    namespace,
    hbone: hostPort('--hbone', f.hbone ?? '0.0.0.0:15008'),
    metricsPort: port('--metrics-port', f['metrics-port'] ?? '15020'),
    readinessPort: port('--readiness-port', f['readiness-port'] ?? '15021'),
    origin,
    identityDir: f['identity-dir'],
    identityName: f['identity-name'] ?? 'waypoint',
    logLevel: level as WaypointConfig['logLevel'],
  });
}
