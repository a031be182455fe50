// Decide: turns what the container runtime gives ambit-cni (CNI_* environment, the network config
// on stdin) into one typed invocation, or the CNI error to print. No I/O here, so every malformed
// input is table-tested. CNI spec 1.0: https://www.cni.dev/docs/spec/

import { DEFAULT_AGENT_SOCKET } from '../cni-wire.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;

/** CNI spec error codes (plus 100+, ours). */
export const CNI_ERR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  CONTAINER_UNKNOWN: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN: 11,
  /** Ambit: the node agent refused the pod for a reason that a retry will not fix. */
  AGENT_REFUSED: 100,
} as const;

export interface CniFailure {
  code: number;
  msg: string;
  details?: string;
}

export interface PluginConfig {
  cniVersion: string;
  name: string;
  /** Node agent socket (config key `agentSocket`). */
  agentSocket: string;
  /** How long ADD/CHECK wait for the agent (config key `timeoutMs`), DEL waits at most this too. */
  timeoutMs: number;
  /** The previous plugin's result, passed through unchanged on ADD. */
  prevResult?: Record<string, unknown>;
}

export type Invocation =
  | { command: 'VERSION'; cniVersion: string }
  | {
      command: 'ADD' | 'DEL' | 'CHECK';
      config: PluginConfig;
      containerId: string;
      netns?: string;
      ifname: string;
      /** undefined when CNI_ARGS names no Kubernetes pod (then ambit-cni only passes through). */
      pod?: { name: string; namespace: string; uid?: string };
      ips: string[];
    };

export type Parsed =
  { ok: true; inv: Invocation } | { ok: false; cniVersion: string; err: CniFailure };

const DEFAULT_TIMEOUT_MS = 30_000;

function fail(cniVersion: string, code: number, msg: string, details?: string): Parsed {
  return {
    ok: false,
    cniVersion,
    err: details === undefined ? { code, msg } : { code, msg, details },
  };
}

/** `K=V;K=V` (CNI_ARGS) into a map. */
export function parseCniArgs(args: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (args ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** The addresses (without prefix length) of a CNI result's `ips` list. */
export function resultIps(result: Record<string, unknown> | undefined): string[] {
  const ips = result?.ips;
  if (!Array.isArray(ips)) return [];
  const out: string[] = [];
  for (const ip of ips as unknown[]) {
    const addr = (ip as { address?: unknown } | null)?.address;
    if (typeof addr === 'string' && addr !== '') out.push(addr.split('/')[0]!);
  }
  return out;
}

export function parseInvocation(env: NodeJS.ProcessEnv, stdin: string): Parsed {
  const command = env.CNI_COMMAND;
  let conf: Record<string, unknown> = {};
  let decodeError: string | undefined;
  if (stdin.trim() !== '') {
    try {
      const v: unknown = JSON.parse(stdin);
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        decodeError = 'it is not a JSON object';
      else conf = v as Record<string, unknown>;
    } catch (err) {
      decodeError = (err as Error).message;
    }
  } else if (command !== 'VERSION') {
    decodeError = 'stdin is empty';
  }
  const cniVersion = typeof conf.cniVersion === 'string' ? conf.cniVersion : '1.0.0';
  if (decodeError !== undefined) {
    return fail(
      cniVersion,
      CNI_ERR.DECODE_FAILURE,
      'cannot decode the network configuration on stdin',
      decodeError,
    );
  }

  if (command === 'VERSION') return { ok: true, inv: { command, cniVersion } };
  if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') {
    return fail(
      cniVersion,
      CNI_ERR.INVALID_ENV,
      `unknown CNI_COMMAND ${JSON.stringify(command ?? '')}`,
      'ambit-cni supports ADD, DEL, CHECK and VERSION',
    );
  }
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    return fail(
      cniVersion,
      CNI_ERR.INCOMPATIBLE_VERSION,
      `CNI version ${cniVersion} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId === '')
    return fail(cniVersion, CNI_ERR.INVALID_ENV, 'CNI_CONTAINERID is not set');
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname === '') return fail(cniVersion, CNI_ERR.INVALID_ENV, 'CNI_IFNAME is not set');
  const netns = env.CNI_NETNS ?? '';
  // DEL may come after the netns is gone; the spec lets the runtime omit it then.
  if (netns === '' && command !== 'DEL')
    return fail(cniVersion, CNI_ERR.INVALID_ENV, 'CNI_NETNS is not set');

  if (typeof conf.name !== 'string' || conf.name === '') {
    return fail(cniVersion, CNI_ERR.INVALID_CONFIG, 'network configuration has no "name"');
  }
  const agentSocket = conf.agentSocket ?? DEFAULT_AGENT_SOCKET;
  if (typeof agentSocket !== 'string' || !agentSocket.startsWith('/')) {
    return fail(cniVersion, CNI_ERR.INVALID_CONFIG, '"agentSocket" must be an absolute path');
  }
  const timeoutMs = conf.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > 600_000
  ) {
    return fail(cniVersion, CNI_ERR.INVALID_CONFIG, '"timeoutMs" must be an integer in 1..600000');
  }
  const prev = conf.prevResult;
  if (prev !== undefined && (typeof prev !== 'object' || prev === null || Array.isArray(prev))) {
    return fail(cniVersion, CNI_ERR.INVALID_CONFIG, '"prevResult" is not an object');
  }
  if (command === 'ADD' && prev === undefined) {
    return fail(
      cniVersion,
      CNI_ERR.INVALID_CONFIG,
      'ambit-cni is a chained plugin and got no prevResult',
      'list it after the interface plugin (e.g. bridge, ptp) in the conflist',
    );
  }
  const prevResult = prev as Record<string, unknown> | undefined;

  const args = parseCniArgs(env.CNI_ARGS);
  const name = args.get('K8S_POD_NAME');
  const namespace = args.get('K8S_POD_NAMESPACE');
  const uid = args.get('K8S_POD_UID');
  const pod = name && namespace ? { name, namespace, ...(uid ? { uid } : {}) } : undefined;

  return {
    ok: true,
    inv: {
      command,
      config: {
        cniVersion,
        name: conf.name,
        agentSocket,
        timeoutMs,
        ...(prevResult ? { prevResult } : {}),
      },
      containerId,
      ...(netns !== '' ? { netns } : {}),
      ifname,
      ...(pod ? { pod } : {}),
      ips: resultIps(prevResult),
    },
  };
}
