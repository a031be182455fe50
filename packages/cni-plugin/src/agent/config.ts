// The node agent's one door for configuration: a YAML file (--config) plus a few flags, read into
// one frozen object. Example (docs/cni.md has the full list):
//
//   node: node-a                      # or --node-name
//   podsFile: /etc/ambit/pods.yaml    # development; without it: the Kubernetes API
//   kubeconfig: /etc/ambit/kubeconfig # or --kubeconfig; neither: in-cluster
//   install: { pluginBinary: /opt/ambit/ambit-cni, cniBinDir: /opt/cni/bin, cniConfDir: /etc/cni/net.d }
//   daemonSet: ambit-system/ambit-node-agent  # or --daemonset; tells an uninstall from a restart

import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { CniAgentConfigError } from '@ambit/core/errors';
import type { LogLevel } from '@ambit/core/log';
import { INPOD_DEFAULT_SOCKET } from '@ambit/core/inpod/protocol';
import { FieldReader } from '@ambit/core/mesh/field-reader';
import { DEFAULT_AGENT_SOCKET } from '../cni-wire.ts';

export interface AgentConfig {
  command: 'run' | 'install' | 'uninstall';
  node: string;
  cniSocket: string;
  ztunnelSocket: string;
  stateFile: string;
  /** Where pod and namespace facts come from: a local YAML file, or the Kubernetes API. */
  pods: { file: string } | { kubeconfig?: string };
  ackTimeoutMs: number;
  /** debug, info (default), warn or error. */
  logLevel: LogLevel;
  /** Node-side probe SNAT; `netns` undefined = the agent's own netns. */
  probeSnat?: { netns?: string };
  /**
   * The agent's own DaemonSet (Kubernetes pod source only): when it is deleted, stopping the agent
   * uninstalls (shutdown-decision.ts); without it, stopping is always a restart.
   */
  daemonSet?: { namespace: string; name: string };
  install?: {
    pluginBinary: string;
    cniBinDir: string;
    cniConfDir: string;
    /** ambit-cni's wait for the agent (plugin config `timeoutMs`). */
    timeoutMs: number;
  };
}

/** Command-line values that override the file (`--node-name`, `--kubeconfig`, `--log-level`, `--daemonset`). */
export interface AgentFlags {
  nodeName?: string;
  kubeconfig?: string;
  logLevel?: string;
  daemonSet?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function parseAgentConfig(
  text: string,
  command: AgentConfig['command'],
  file = 'config',
  flags: AgentFlags = {},
): AgentConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new CniAgentConfigError(`${file}: not valid YAML: ${doc.errors[0]?.message ?? ''}`);
  const r = new FieldReader((m) => new CniAgentConfigError(`${file}: ${m}`));
  const o = r.object(doc.toJS() ?? {}, '');
  r.onlyKeys(o, '', [
    'node',
    'cniSocket',
    'ztunnelSocket',
    'stateFile',
    'podsFile',
    'kubeconfig',
    'ackTimeoutMs',
    'logLevel',
    'probeSnat',
    'install',
    'daemonSet',
  ]);
  const path = (v: unknown, p: string, dflt?: string): string => {
    const s = v === undefined && dflt !== undefined ? dflt : r.string(v, p);
    if (!s.startsWith('/')) r.fail(p, `${s} is not an absolute path`);
    return s;
  };
  let probeSnat: AgentConfig['probeSnat'];
  if (o.probeSnat !== undefined && o.probeSnat !== false) {
    const ps = o.probeSnat === true ? {} : r.object(o.probeSnat, 'probeSnat');
    r.onlyKeys(ps, 'probeSnat', ['netns']);
    probeSnat = ps.netns === undefined ? {} : { netns: path(ps.netns, 'probeSnat.netns') };
  }
  let install: AgentConfig['install'];
  if (o.install !== undefined) {
    const i = r.object(o.install, 'install');
    r.onlyKeys(i, 'install', ['pluginBinary', 'cniBinDir', 'cniConfDir', 'timeoutMs']);
    install = {
      pluginBinary: path(i.pluginBinary, 'install.pluginBinary'),
      cniBinDir: path(i.cniBinDir, 'install.cniBinDir', '/opt/cni/bin'),
      cniConfDir: path(i.cniConfDir, 'install.cniConfDir', '/etc/cni/net.d'),
      timeoutMs:
        i.timeoutMs === undefined
          ? 30_000
          : r.integer(i.timeoutMs, 'install.timeoutMs', 1, 600_000),
    };
  }
  let daemonSet: AgentConfig['daemonSet'];
  const ds =
    flags.daemonSet ?? (o.daemonSet === undefined ? undefined : r.string(o.daemonSet, 'daemonSet'));
  if (ds !== undefined) {
    const [namespace = '', name = '', ...rest] = ds.split('/');
    if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name))
      r.fail('daemonSet', `${JSON.stringify(ds)} is not <namespace>/<name>`);
    daemonSet = { namespace, name };
  }
  if (command !== 'run' && install === undefined) r.fail('install', `required for ${command}`);
  const kubeconfig =
    flags.kubeconfig ?? (o.kubeconfig === undefined ? undefined : path(o.kubeconfig, 'kubeconfig'));
  if (o.podsFile !== undefined && kubeconfig !== undefined)
    r.fail('podsFile', 'podsFile (local pod facts) and kubeconfig exclude each other');
  if (daemonSet !== undefined && o.podsFile !== undefined)
    r.fail('daemonSet', 'needs the Kubernetes API (it cannot go with podsFile)');
  const pods: AgentConfig['pods'] =
    o.podsFile !== undefined
      ? { file: path(o.podsFile, 'podsFile') }
      : kubeconfig !== undefined
        ? { kubeconfig }
        : {};
  const level =
    flags.logLevel ?? (o.logLevel === undefined ? 'info' : r.string(o.logLevel, 'logLevel'));
  const logLevel = LOG_LEVELS.find((l) => l === level);
  if (logLevel === undefined) {
    throw new CniAgentConfigError(
      `${file}: logLevel: ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return Object.freeze({
    command,
    logLevel,
    node: flags.nodeName ?? (o.node === undefined ? hostname() : r.string(o.node, 'node')),
    cniSocket: path(o.cniSocket, 'cniSocket', DEFAULT_AGENT_SOCKET),
    ztunnelSocket: path(o.ztunnelSocket, 'ztunnelSocket', INPOD_DEFAULT_SOCKET),
    stateFile: path(o.stateFile, 'stateFile', '/var/lib/ambit/node-agent.json'),
    pods,
    ackTimeoutMs:
      o.ackTimeoutMs === undefined ? 5000 : r.integer(o.ackTimeoutMs, 'ackTimeoutMs', 1, 600_000),
    ...(probeSnat ? { probeSnat } : {}),
    ...(install ? { install } : {}),
    ...(daemonSet ? { daemonSet } : {}),
  });
}

/**
 * `ambit-node-agent [run|install|uninstall] --config <file> [--node-name <n>] [--kubeconfig <f>]
 * [--log-level <l>] [--daemonset <namespace>/<name>]`
 */
export async function loadAgentConfig(argv: readonly string[]): Promise<AgentConfig> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string', short: 'c' },
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      'log-level': { type: 'string' },
      daemonset: { type: 'string' },
    },
    allowPositionals: true,
  });
  const command = positionals[0] ?? 'run';
  if (command !== 'run' && command !== 'install' && command !== 'uninstall') {
    throw new CniAgentConfigError(`unknown command ${command} (run, install, uninstall)`);
  }
  if (values.config === undefined) throw new CniAgentConfigError('--config <file> is required');
  let text: string;
  try {
    text = await readFile(values.config, 'utf8');
  } catch (err) {
    throw new CniAgentConfigError(`cannot read ${values.config}`, { cause: err });
  }
  const nodeName = values['node-name'];
  if (nodeName === '') throw new CniAgentConfigError('--node-name is empty');
  if (values.kubeconfig !== undefined && !values.kubeconfig.startsWith('/'))
    throw new CniAgentConfigError(`--kubeconfig ${values.kubeconfig} is not an absolute path`);
  return parseAgentConfig(text, command, values.config, {
    ...(nodeName !== undefined ? { nodeName } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values['log-level'] !== undefined ? { logLevel: values['log-level'] } : {}),
    ...(values.daemonset !== undefined ? { daemonSet: values.daemonset } : {}),
  });
}
