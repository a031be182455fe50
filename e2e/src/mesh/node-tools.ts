// What a scenario checks on a node itself, through the provider's `nodeCommand` (local: the
// node's network namespace; kind: docker exec): packet captures and nft rules in pod netns.
import { spawn } from 'node:child_process';
import type { ClusterProvider } from '../providers/cluster-provider.ts';
import { runCommand } from '../providers/run-command.ts';

/** Runs a command on a node and returns its stdout. */
export async function nodeExec(
  provider: ClusterProvider,
  node: string,
  argv: readonly string[],
): Promise<string> {
  const [file, ...args] = provider.nodeCommand(node, argv);
  if (!file) throw new Error('empty node command');
  return runCommand(file, args);
}

export interface Capture {
  /** Stops tcpdump and returns what it printed (one line per packet, payload as ASCII). */
  stop(): Promise<string>;
}

/**
 * tcpdump on every interface of a node (`-i any`: the pods' veths and the node's uplink), with
 * payloads printed as ASCII (`-A`), for a BPF `filter`. Resolves once tcpdump is listening.
 */
export async function startCapture(
  provider: ClusterProvider,
  node: string,
  filter: string,
): Promise<Capture> {
  const [file, ...args] = provider.nodeCommand(node, [
    'tcpdump',
    '-i',
    'any',
    '-nn',
    '-l',
    '-A',
    '-s',
    '0',
    ...filter.split(' '),
  ]);
  if (!file) throw new Error('empty node command');
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8');
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 15_000);
    child.stderr.on('data', (c: string) => {
      err += c;
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited with ${code}: ${err}`));
    });
  });
  return {
    async stop() {
      // Let the last packets reach the output, then stop it (SIGINT: tcpdump flushes and exits).
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGINT');
      await closed;
      return out;
    },
  };
}

/** The nft ruleset in the network namespace of a pod on this node (its sandbox's netns). */
export async function podNetnsRuleset(
  provider: ClusterProvider,
  node: string,
  podIp: string,
): Promise<string> {
  // The node has a route to each local pod via the pod's veth; the pod netns is found through the
  // peer of that veth: ip netns identify on the veth's link-netnsid is not available for
  // containerd's netns paths, so enter it by the PID of a process in it instead.
  const script = `for p in /proc/[0-9]*; do
    ns=$(readlink $p/ns/net 2>/dev/null) || continue
    case " $seen " in *" $ns "*) continue;; esac; seen="$seen $ns"
    if nsenter --net=$p/ns/net ip -4 -o addr show 2>/dev/null | grep -q " ${podIp}/"; then
      nsenter --net=$p/ns/net nft list ruleset; exit 0
    fi
  done; echo "no process in the netns of ${podIp}" >&2; exit 1`;
  return nodeExec(provider, node, ['sh', '-c', script]);
}
