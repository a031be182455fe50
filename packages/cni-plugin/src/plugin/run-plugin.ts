// Do: runs one parsed CNI invocation and returns what ambit-cni prints and its exit code.
//   VERSION → supported versions.
//   ADD     → ask the agent; on enrolled / not-ambient print prevResult unchanged, else a CNI error.
//   CHECK   → ask the agent; silent success, or a CNI error.
//   DEL     → tell the agent, best effort: always succeeds (the spec wants DEL to tolerate missing state).

import { CNI_WIRE_VERSION, type CniWireRequest } from '../cni-wire.ts';
import { callAgent } from './call-agent.ts';
import {
  CNI_ERR,
  SUPPORTED_VERSIONS,
  parseInvocation,
  type CniFailure,
} from './parse-invocation.ts';

export interface PluginOutput {
  stdout: string;
  /** Diagnostics for the runtime's log (DEL failures are swallowed, but said here). */
  stderr: string;
  exitCode: number;
}

function errorOutput(cniVersion: string, err: CniFailure): PluginOutput {
  return { stdout: JSON.stringify({ cniVersion, ...err }) + '\n', stderr: '', exitCode: 1 };
}

export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<PluginOutput> {
  const parsed = parseInvocation(env, stdin);
  if (!parsed.ok) return errorOutput(parsed.cniVersion, parsed.err);
  const inv = parsed.inv;
  if (inv.command === 'VERSION') {
    return {
      stdout:
        JSON.stringify({ cniVersion: inv.cniVersion, supportedVersions: SUPPORTED_VERSIONS }) +
        '\n',
      stderr: '',
      exitCode: 0,
    };
  }
  const { config } = inv;
  const passThrough: PluginOutput = {
    stdout:
      inv.command === 'ADD'
        ? JSON.stringify({ ...config.prevResult, cniVersion: config.cniVersion }) + '\n'
        : '',
    stderr: '',
    exitCode: 0,
  };
  // Not a Kubernetes pod (no K8S_POD_* in CNI_ARGS): nothing Ambit could enrol.
  if (inv.pod === undefined) return passThrough;

  const req: CniWireRequest = {
    v: CNI_WIRE_VERSION,
    command: inv.command,
    containerId: inv.containerId,
    ...(inv.netns !== undefined ? { netns: inv.netns } : {}),
    ifname: inv.ifname,
    pod: inv.pod,
    ips: inv.ips,
  };
  const res = await callAgent(config.agentSocket, req, config.timeoutMs);

  if (inv.command === 'DEL') {
    if (res.ok && res.reply.result !== 'refused') return passThrough;
    const why =
      res.ok && res.reply.result === 'refused' ? res.reply.reason : !res.ok ? res.message : '';
    return { ...passThrough, stderr: `ambit-cni: DEL ${inv.containerId}: ignored: ${why}\n` };
  }
  if (!res.ok) {
    return errorOutput(config.cniVersion, {
      code: res.reason === 'bad-reply' ? CNI_ERR.IO_FAILURE : CNI_ERR.TRY_AGAIN,
      msg: res.message,
      details: `pod ${inv.pod.namespace}/${inv.pod.name} was not set up; the runtime should retry`,
    });
  }
  const reply = res.reply;
  if (reply.result === 'refused') {
    return errorOutput(config.cniVersion, {
      code: reply.tryAgain ? CNI_ERR.TRY_AGAIN : CNI_ERR.AGENT_REFUSED,
      msg: `ambit node agent refused pod ${inv.pod.namespace}/${inv.pod.name}`,
      details: reply.reason,
    });
  }
  return passThrough;
}
