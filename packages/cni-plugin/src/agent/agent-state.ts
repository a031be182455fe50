// The node agent's memory across restarts: every pod sandbox CNI told it about (so labelling a
// namespace later can enrol pods that are already running) and, for the enrolled ones, exactly what
// ztunnel was given (so a restarted agent re-sends the same set). A JSON file, written atomically
// after every change. (With the Kubernetes PodSource, the enrolled flag is also a pod annotation.)

import { readFile } from 'node:fs/promises';
import { CniAgentConfigError } from '@ambit/core/errors';
import { decodeInpodPod, type InpodPod } from '@ambit/core/inpod/protocol';
import { FieldReader, join } from '@ambit/core/mesh/field-reader';
import { writeFileAtomic } from './write-file-atomic.ts';

export interface KnownPod {
  containerId: string;
  netns: string;
  ifname: string;
  namespace: string;
  name: string;
  /** From CNI_ARGS K8S_POD_UID when the runtime sent it. */
  uid?: string;
  ips: readonly string[];
  /** Set while the pod is captured: what ztunnel was handed. */
  enrolled?: InpodPod;
}

const STATE_VERSION = 1;

export async function loadAgentState(path: string): Promise<KnownPod[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CniAgentConfigError(`cannot read the agent state ${path}`, { cause: err });
  }
  const r = new FieldReader((m) => new CniAgentConfigError(`${path}: ${m}`));
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw new CniAgentConfigError(`${path}: not valid JSON`, { cause: err });
  }
  const o = r.object(root, '');
  if (o.version !== STATE_VERSION)
    r.fail('version', `unsupported state version ${String(o.version)}`);
  return r.array(o.pods, 'pods').map((v, i) => {
    const p = join('pods', i);
    const k = r.object(v, p);
    return {
      containerId: r.string(k.containerId, join(p, 'containerId')),
      netns: r.string(k.netns, join(p, 'netns')),
      ifname: r.string(k.ifname, join(p, 'ifname')),
      namespace: r.string(k.namespace, join(p, 'namespace')),
      name: r.string(k.name, join(p, 'name')),
      ...(k.uid === undefined ? {} : { uid: r.string(k.uid, join(p, 'uid')) }),
      ips: r.array(k.ips, join(p, 'ips')).map((ip, j) => r.ip(ip, join(join(p, 'ips'), j))),
      ...(k.enrolled === undefined
        ? {}
        : { enrolled: decodeInpodPod(k.enrolled, join(p, 'enrolled')) }),
    };
  });
}

export async function saveAgentState(path: string, pods: Iterable<KnownPod>): Promise<void> {
  await writeFileAtomic(
    path,
    JSON.stringify({ version: STATE_VERSION, pods: [...pods] }) + '\n',
    0o600,
  );
}
