// TEST FIXTURE (root only): a "node" network namespace with a bridge, pods as network namespaces
// wired up by Debian's real CNI plugins (loopback, bridge + host-local from /usr/lib/cni), and
// ambit-cni run last in the chain exactly as a container runtime runs it: CNI_* environment,
// the network config on stdin, the bridge's result as prevResult. Nothing touches the machine's
// root netns: every plugin runs inside the node netns (`nsenter --net`), which is its "host".

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CNI_BIN_DIR = '/usr/lib/cni';
const MAIN_TS = join(import.meta.dirname, '../plugin/main.ts');

export interface PluginRun {
  stdout: string;
  stderr: string;
  code: number;
  /** stdout parsed as JSON, when it is. */
  json?: Record<string, unknown>;
}

export interface TestPod {
  name: string;
  namespace: string;
  uid: string;
  containerId: string;
  netnsName: string;
  netns: string;
  ip?: string;
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function netnsExists(name: string): boolean {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .some((l) => l.split(' ')[0] === name);
}

export class CniNode {
  readonly id = randomBytes(3).toString('hex');
  readonly nodeNs = `ambit-node-${this.id}`;
  readonly nodeNetns = `/var/run/netns/ambit-node-${this.id}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'ambit-cni-node-'));
  readonly bridge = `ambr${this.id}`.slice(0, 15);
  readonly subnet: string;
  /** How ambit-cni is executed: node + main.ts by default, or the SEA binary. */
  pluginCommand: string[] = [process.execPath, MAIN_TS];
  /** The ambit-cni entry of the conflist (agentSocket, timeoutMs). */
  ambitConfig: Record<string, unknown>;
  readonly #pods = new Set<string>();

  constructor(agentSocket: string, subnetOctet = 77) {
    this.subnet = `10.${subnetOctet}.0.0/24`;
    this.ambitConfig = { type: 'ambit-cni', agentSocket, timeoutMs: 10_000 };
    sh('ip', ['netns', 'add', this.nodeNs]);
    sh('ip', ['-n', this.nodeNs, 'link', 'set', 'lo', 'up']);
  }

  #bridgeConf(): Record<string, unknown> {
    return {
      type: 'bridge',
      bridge: this.bridge,
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: 'host-local',
        subnet: this.subnet,
        dataDir: join(this.dir, 'ipam'),
        routes: [{ dst: '0.0.0.0/0' }],
      },
    };
  }

  /**
   * Runs one plugin binary inside the node netns as a runtime would. Asynchronous: the agent under
   * test may live in this process, and a blocking spawn would stop it from answering.
   */
  async runPlugin(
    command: string[],
    env: Record<string, string | undefined>,
    stdin: string,
  ): Promise<PluginRun> {
    const child = spawn('nsenter', [`--net=${this.nodeNetns}`, ...command], {
      env: { PATH: process.env.PATH, ...env },
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin);
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const r = { stdout, stderr, status };
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1, ...(json ? { json } : {}) };
  }

  cniEnv(command: string, pod: TestPod, ifname = 'eth0'): Record<string, string> {
    return {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: pod.netns,
      CNI_IFNAME: ifname,
      CNI_PATH: CNI_BIN_DIR,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
    };
  }

  /** Makes a pod netns (no CNI yet). */
  newPod(namespace: string, name: string, uid = `uid-${name}-${this.id}`): TestPod {
    const netnsName = `ambit-pod-${this.id}-${name}`.slice(0, 60);
    sh('ip', ['netns', 'add', netnsName]);
    this.#pods.add(netnsName);
    return {
      name,
      namespace,
      uid,
      containerId: `ctr-${name}-${randomBytes(4).toString('hex')}`,
      netnsName,
      netns: `/var/run/netns/${netnsName}`,
    };
  }

  /** The runtime's ADD: loopback, then bridge, then ambit-cni with the bridge's result. */
  async addPod(pod: TestPod): Promise<{ bridge: PluginRun; ambit: PluginRun }> {
    const lo = await this.runPlugin(
      [join(CNI_BIN_DIR, 'loopback')],
      this.cniEnv('ADD', pod, 'lo'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    );
    if (lo.code !== 0) throw new Error(`loopback ADD failed: ${lo.stdout}${lo.stderr}`);
    const bridge = await this.runPlugin(
      [join(CNI_BIN_DIR, 'bridge')],
      this.cniEnv('ADD', pod),
      JSON.stringify({ cniVersion: '1.0.0', name: 'ambit-test', ...this.#bridgeConf() }),
    );
    if (bridge.code !== 0) throw new Error(`bridge ADD failed: ${bridge.stdout}${bridge.stderr}`);
    const ips = (bridge.json?.ips ?? []) as { address: string }[];
    pod.ip = ips[0]?.address.split('/')[0];
    const ambit = await this.runAmbit('ADD', pod, bridge.json);
    return { bridge, ambit };
  }

  /** ambit-cni alone, with a prevResult (as the runtime chains it). */
  runAmbit(
    command: string,
    pod: TestPod,
    prevResult?: Record<string, unknown>,
    extraConf = {},
  ): Promise<PluginRun> {
    return this.runPlugin(
      this.pluginCommand,
      this.cniEnv(command, pod),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'ambit-test',
        ...this.ambitConfig,
        ...extraConf,
        ...(prevResult ? { prevResult } : {}),
      }),
    );
  }

  /** The runtime's DEL: the chain in reverse (ambit-cni first), then loopback. */
  async delPod(pod: TestPod): Promise<PluginRun> {
    const ambit = await this.runAmbit('DEL', pod);
    await this.runPlugin(
      [join(CNI_BIN_DIR, 'bridge')],
      this.cniEnv('DEL', pod),
      JSON.stringify({ cniVersion: '1.0.0', name: 'ambit-test', ...this.#bridgeConf() }),
    );
    return ambit;
  }

  /** Removes a pod's netns (the runtime's sandbox teardown). */
  removePod(pod: TestPod): void {
    spawnSync('ip', ['netns', 'del', pod.netnsName]);
    this.#pods.delete(pod.netnsName);
  }

  /** `nft list table inet <t>` in a netns, or undefined when absent. */
  nftTable(netns: string, table: string): string | undefined {
    const r = spawnSync('nsenter', [`--net=${netns}`, 'nft', 'list', 'table', 'inet', table], {
      encoding: 'utf8',
    });
    return r.status === 0 ? r.stdout : undefined;
  }

  /**
   * The reply routing in a netns (pod-rules.ts replyRoutingCommands), one line per `ip rule` with
   * the reply mark and per route in the reply table, both families; [] when there is none.
   */
  replyRouting(netns: string): string[] {
    const ip = (args: string[]): string[] =>
      (spawnSync('nsenter', [`--net=${netns}`, 'ip', ...args], { encoding: 'utf8' }).stdout ?? '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '');
    return [
      ...ip(['-4', 'rule', 'list']).filter((l) => l.includes('fwmark 0x111')),
      ...ip(['-4', 'route', 'show', 'table', '100']),
      ...ip(['-6', 'rule', 'list']).filter((l) => l.includes('fwmark 0x111')),
      ...ip(['-6', 'route', 'show', 'table', '100']),
    ];
  }

  /** Removes every netns this node made (pods, then the node, which takes the bridge and veths). */
  cleanup(): void {
    for (const ns of this.#pods) spawnSync('ip', ['netns', 'del', ns]);
    this.#pods.clear();
    spawnSync('ip', ['netns', 'del', this.nodeNs]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a TCP server inside a netns that greets every connection with `greeting` and closes.
 * Resolves once it listens; the returned function stops it (by PID).
 */
export async function greeterInNetns(
  netns: string,
  port: number,
  greeting: string,
): Promise<() => void> {
  const script = `require('net').createServer((s)=>s.end(${JSON.stringify(greeting)})).listen(${port},'0.0.0.0',()=>console.log('ready'))`;
  const child = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`greeter exited (${c})`)));
    child.stdout.once('data', () => resolve());
  });
  return () => {
    child.removeAllListeners('exit');
    if (child.exitCode === null) child.kill('SIGKILL');
  };
}

/** Connects from inside a netns and returns what the server said ('' on refusal/timeout). */
export function readFromNetns(netns: string, host: string, port: number): string {
  const script = `const s=require('net').connect(${port},${JSON.stringify(host)});let d='';s.setTimeout(3000,()=>s.destroy());s.on('data',(c)=>d+=c);s.on('close',()=>process.stdout.write(d));s.on('error',()=>{})`;
  const r = spawnSync('nsenter', [`--net=${netns}`, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.stdout;
}
