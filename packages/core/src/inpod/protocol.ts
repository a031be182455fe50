// The in-pod handoff protocol: how the node agent (packages/cni-plugin) tells ztunnel which pods
// on this node are captured and where their network namespaces are. Newline-delimited JSON over a
// unix stream socket; the agent sends requests, ztunnel answers each one, in order, with an `ack`
// or a `nack` carrying the reason. docs/cni.md documents the wire format.
//
// Agent → ztunnel:  hello (first, once) · snapshot (the full set, after every hello) · add · del
// ztunnel → agent:  ack {id} · nack {id, reason}
//
// Netns are passed as paths, not as file descriptors over SCM_RIGHTS: Node has no API to send or
// receive fds on a unix socket, and the netns addon opens a path anyway. The path stays valid from
// CNI ADD until CNI DEL (the runtime keeps the netns bind-mounted), and the agent sends `del`
// during CNI DEL, before the runtime tears the netns down. See docs/cni.md.

import { InpodProtocolError } from '../errors.ts';
import { FieldReader, join, show } from '../mesh/field-reader.ts';

/** The protocol version this code speaks; `hello` carries it and a mismatch is NACKed. */
export const INPOD_PROTOCOL_VERSION = 1;
/** The longest line either side accepts (a snapshot of ~10 000 pods). */
export const INPOD_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Where ztunnel listens by default. */
export const INPOD_DEFAULT_SOCKET = '/var/run/ambit/ztunnel.sock';

/** One captured pod, as ztunnel needs it to open listeners in its netns and pick its identity. */
export interface InpodPod {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  /** Path of the pod's network namespace file (e.g. /var/run/netns/cni-…, /proc/<pid>/ns/net). */
  netns: string;
  /** The pod's IPs, canonical form, as CNI assigned them. */
  ips: readonly string[];
}

export interface HelloMessage {
  type: 'hello';
  id: number;
  /** Protocol version the agent speaks. */
  version: number;
  /** The node's name, for logs. */
  node: string;
}
export interface SnapshotMessage {
  type: 'snapshot';
  id: number;
  /** Every pod captured on this node; ztunnel drops any pod it holds that is not listed. */
  pods: readonly InpodPod[];
}
export interface AddMessage {
  type: 'add';
  id: number;
  pod: InpodPod;
}
export interface DelMessage {
  type: 'del';
  id: number;
  uid: string;
}
export type AgentMessage = HelloMessage | SnapshotMessage | AddMessage | DelMessage;

export interface AckMessage {
  type: 'ack';
  id: number;
}
export interface NackMessage {
  type: 'nack';
  /** The id of the refused message; 0 when the refused line had no readable id. */
  id: number;
  reason: string;
}
export type ZtunnelMessage = AckMessage | NackMessage;

const reader = new FieldReader((m) => new InpodProtocolError(`in-pod message: ${m}`));

/** One line (with its newline) for any message. */
export function encodeInpodMessage(msg: AgentMessage | ZtunnelMessage): string {
  const line = JSON.stringify(msg);
  if (Buffer.byteLength(line) >= INPOD_MAX_MESSAGE_BYTES) {
    throw new InpodProtocolError(
      `in-pod ${msg.type} message is ${Buffer.byteLength(line)} bytes, over the ${INPOD_MAX_MESSAGE_BYTES}-byte limit`,
    );
  }
  return line + '\n';
}

function parseLine(line: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new InpodProtocolError(`in-pod message is not valid JSON: ${show(line)}`, {
      cause: err,
    });
  }
  return reader.object(v, '');
}

function messageId(o: Record<string, unknown>): number {
  return reader.integer(o.id, 'id', 0, Number.MAX_SAFE_INTEGER);
}

/** The id of a line, if it has a readable one (to address a NACK of an otherwise bad message). */
export function peekMessageId(line: string): number {
  try {
    const o = parseLine(line);
    return messageId(o);
  } catch {
    return 0;
  }
}

/** Validates one pod; `path` names it in errors (`pods[3].netns: must be an absolute path`). */
export function decodeInpodPod(v: unknown, path: string): InpodPod {
  const o = reader.object(v, path);
  reader.onlyKeys(o, path, ['uid', 'name', 'namespace', 'serviceAccount', 'netns', 'ips']);
  const netns = reader.string(o.netns, join(path, 'netns'));
  if (!netns.startsWith('/'))
    reader.fail(join(path, 'netns'), `${show(netns)} is not an absolute path`);
  return {
    uid: reader.string(o.uid, join(path, 'uid')),
    name: reader.name(o.name, join(path, 'name')),
    namespace: reader.name(o.namespace, join(path, 'namespace')),
    serviceAccount: reader.name(o.serviceAccount, join(path, 'serviceAccount')),
    netns,
    ips: reader
      .array(o.ips, join(path, 'ips'))
      .map((ip, i) => reader.ip(ip, join(join(path, 'ips'), i))),
  };
}

/** Decodes a line the agent sent. Throws InpodProtocolError naming the bad field. */
export function decodeAgentMessage(line: string): AgentMessage {
  const o = parseLine(line);
  const id = messageId(o);
  const type = reader.oneOf(o.type, 'type', ['hello', 'snapshot', 'add', 'del'] as const);
  switch (type) {
    case 'hello':
      reader.onlyKeys(o, '', ['type', 'id', 'version', 'node']);
      return {
        type,
        id,
        version: reader.integer(o.version, 'version', 1, 1_000_000),
        node: reader.string(o.node, 'node'),
      };
    case 'snapshot': {
      reader.onlyKeys(o, '', ['type', 'id', 'pods']);
      const pods = reader.array(o.pods, 'pods').map((p, i) => decodeInpodPod(p, join('pods', i)));
      const seen = new Set<string>();
      pods.forEach((p, i) => {
        if (seen.has(p.uid))
          reader.fail(join(join('pods', i), 'uid'), `pod ${p.uid} is listed twice`);
        seen.add(p.uid);
      });
      return { type, id, pods };
    }
    case 'add':
      reader.onlyKeys(o, '', ['type', 'id', 'pod']);
      return { type, id, pod: decodeInpodPod(o.pod, 'pod') };
    case 'del':
      reader.onlyKeys(o, '', ['type', 'id', 'uid']);
      return { type, id, uid: reader.string(o.uid, 'uid') };
  }
}

/** Decodes a line ztunnel sent. Throws InpodProtocolError naming the bad field. */
export function decodeZtunnelMessage(line: string): ZtunnelMessage {
  const o = parseLine(line);
  const id = messageId(o);
  const type = reader.oneOf(o.type, 'type', ['ack', 'nack'] as const);
  switch (type) {
    case 'ack':
      reader.onlyKeys(o, '', ['type', 'id']);
      return { type, id };
    case 'nack':
      reader.onlyKeys(o, '', ['type', 'id', 'reason']);
      return { type, id, reason: reader.string(o.reason, 'reason') };
  }
}
