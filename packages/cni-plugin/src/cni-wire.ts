// What ambit-cni and the node agent say to each other over the agent's unix socket
// (/var/run/ambit/cni.sock by default): one JSON line each way per connection. The plugin sends
// the pod event and waits; the agent answers once the pod is enrolled (rules programmed, ztunnel
// acknowledged), found not ambient, released, or refused. Kept free of imports: the plugin
// bundles it into its single executable and runs on every pod start.

export const CNI_WIRE_VERSION = 1;
/** Both sides refuse a line longer than this. */
export const CNI_WIRE_MAX_BYTES = 64 * 1024;
export const DEFAULT_AGENT_SOCKET = '/var/run/ambit/cni.sock';

export type CniWireCommand = 'ADD' | 'DEL' | 'CHECK';

export interface CniWireRequest {
  v: number;
  command: CniWireCommand;
  containerId: string;
  /** Netns path; absent on a DEL whose netns is already gone. */
  netns?: string;
  ifname: string;
  /** From CNI_ARGS (K8S_POD_*). */
  pod: { name: string; namespace: string; uid?: string };
  /** The pod's IPs from prevResult (ADD, CHECK), without prefix length. */
  ips: string[];
}

export type CniWireReply =
  | { v: number; result: 'enrolled' | 'not-ambient' | 'released' | 'ok' }
  /** tryAgain: the refusal is temporary (ztunnel not ready, pod not yet known): CNI code 11. */
  | { v: number; result: 'refused'; reason: string; tryAgain: boolean };

/** Reads an agent reply; throws a plain Error with a readable message when it is not one. */
export function decodeCniWireReply(line: string): CniWireReply {
  const o = JSON.parse(line) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) throw new Error('agent reply is not an object');
  if (o.v !== CNI_WIRE_VERSION) throw new Error(`agent reply has version ${String(o.v)}`);
  switch (o.result) {
    case 'enrolled':
    case 'not-ambient':
    case 'released':
    case 'ok':
      return { v: CNI_WIRE_VERSION, result: o.result };
    case 'refused':
      return {
        v: CNI_WIRE_VERSION,
        result: 'refused',
        reason: typeof o.reason === 'string' ? o.reason : 'no reason given',
        tryAgain: o.tryAgain === true,
      };
    default:
      throw new Error(`agent reply has unknown result ${JSON.stringify(o.result)}`);
  }
}
