// ztunnel's access log (docs/observability.md): one JSON line per connection, at its close, with
// `"scope":"access"`, read from the ztunnel pod of a node with kubectl logs.
import type { Kubectl } from '../kubectl.ts';
import { MESH_NAMESPACE, podOnNode } from './mesh-install.ts';
import { sleep } from './workloads.ts';

export type AccessLogLine = Record<string, unknown>;

/** The access-log lines of a node's ztunnel, as objects. */
export async function accessLog(kubectl: Kubectl, node: string): Promise<AccessLogLine[]> {
  const pod = await podOnNode(kubectl, 'ztunnel', node);
  const out = await kubectl('-n', MESH_NAMESPACE, 'logs', pod);
  const lines: AccessLogLine[] = [];
  for (const text of out.split('\n')) {
    if (!text.includes('"scope":"access"')) continue;
    try {
      lines.push(JSON.parse(text) as AccessLogLine);
    } catch {
      // A line cut by log rotation.
    }
  }
  return lines;
}

/**
 * Waits (up to `seconds`) until a node's ztunnel has logged at least one access line matching
 * `match`, and returns the matching lines (lines come when a connection closes).
 */
export async function accessLogLines(
  kubectl: Kubectl,
  node: string,
  match: (line: AccessLogLine) => boolean,
  seconds = 15,
): Promise<AccessLogLine[]> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const found = (await accessLog(kubectl, node)).filter(match);
    if (found.length > 0 || Date.now() > deadline) return found;
    await sleep(1000);
  }
}
