// In-pod mode end to end, root only: two node netns joined by a veth (traffic between nodes
// crosses a real link), each with a bridge, a real node agent and a real ztunnel in in-pod mode;
// pods made by Debian's CNI plugins and then ambit-cni as a runtime does; apps and clients are
// plain TCP sockets inside the pod netns, with no proxy settings.

import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socketInNetns } from '@ambit/netns';
import { closeServer, connectFd, serveFd } from '@ambit/netns/testing/net-helpers';
import { requireRoot } from '@ambit/netns/testing/temp-netns';
import { callAgent } from '@ambit/cni-plugin/plugin/call-agent';
import { CNI_WIRE_VERSION } from '@ambit/cni-plugin/cni-wire';
import { sh, type TestPod } from '@ambit/cni-plugin/testing/cni-node';
import {
  InpodCluster,
  listeningPorts,
  type ClusterPod,
  type InpodNode,
} from '../testing/inpod-cluster.ts';

const CAPTURE_PORTS = [15001, 15006, 15008];
const ID = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

/**
 * An app inside a pod: greets with `<name> sees <client address>`, collects what the client
 * sends, and answers `got <it>` once the client half-closes.
 */
async function app(pod: TestPod, port: number, name: string): Promise<Server> {
  const fd = socketInNetns(pod.netns, { family: 4, listen: { address: '0.0.0.0', port } });
  return serveFd(fd, (s) => {
    let got = '';
    s.write(`${name} sees ${s.remoteAddress}\n`);
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    s.on('end', () => s.end(`got ${got}`));
  });
}

/**
 * A plain TCP client inside `netns` (no proxy, no mark: the pod's rules see it like any app's):
 * sends `payload`, half-closes, returns everything the server said ('' if refused or reset).
 */
async function call(netns: string, host: string, port: number, payload: string): Promise<string> {
  let s: Socket;
  try {
    s = await connectFd(socketInNetns(netns, { family: 4 }), port, host);
  } catch {
    return '';
  }
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => s.destroy(), 5000);
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    s.end(payload);
  });
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Access-log lines of one ztunnel. */
function access(n: InpodNode): Record<string, unknown>[] {
  return n.logs.json().filter((l) => l.scope === 'access');
}

async function until<T>(fn: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** tcpdump inside a netns, writing a pcap; resolves once it listens. stop() flushes and exits. */
async function capture(
  netns: string,
  iface: string,
  file: string,
  filter: string,
): Promise<{ stop(): Promise<void> }> {
  const child = spawn(
    'nsenter',
    [
      `--net=${netns}`,
      'tcpdump',
      '--immediate-mode',
      '-Z',
      'root',
      '-i',
      iface,
      '-U',
      '-s',
      '0',
      '-w',
      file,
      filter,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`tcpdump exited (${c}): ${err}`)));
  });
  return {
    async stop() {
      child.removeAllListeners('exit');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    },
  };
}

describe('ztunnel in-pod mode in real network namespaces (two nodes)', () => {
  let cluster: InpodCluster;
  let a: ClusterPod; // node-a, ambient namespace "mesh"
  let c: ClusterPod; // node-a, non-ambient namespace "plain"
  let b: ClusterPod; // node-b, "mesh"
  let s: ClusterPod; // node-b, ambient namespace "locked" (STRICT)
  const servers: Server[] = [];

  beforeAll(async () => {
    requireRoot();
    cluster = await InpodCluster.create({
      nodes: 2,
      ambient: ['mesh', 'locked'],
      plain: ['plain'],
      mesh: '{ trustDomain: cluster.local, mtls: PERMISSIVE, namespaces: { locked: STRICT } }',
    });
    await cluster.declarePods([
      { node: 0, namespace: 'mesh', name: 'a', serviceAccount: 'client' },
      { node: 0, namespace: 'plain', name: 'c', serviceAccount: 'plain' },
      { node: 1, namespace: 'mesh', name: 'b', serviceAccount: 'server' },
      { node: 1, namespace: 'locked', name: 's', serviceAccount: 'vault' },
      { node: 0, namespace: 'mesh', name: 'd', serviceAccount: 'client' },
      { node: 0, namespace: 'mesh', name: 'loop', serviceAccount: 'client' },
    ]);
    a = await cluster.addPod({ node: 0, namespace: 'mesh', name: 'a', serviceAccount: 'client' });
    c = await cluster.addPod({ node: 0, namespace: 'plain', name: 'c', serviceAccount: 'plain' });
    b = await cluster.addPod({ node: 1, namespace: 'mesh', name: 'b', serviceAccount: 'server' });
    s = await cluster.addPod({ node: 1, namespace: 'locked', name: 's', serviceAccount: 'vault' });
    await cluster.publishMesh();
    // The probe that decides how b's app is reached has answered.
    await Promise.all(
      cluster.nodes.flatMap((n) => n.z.inpod?.pods.map((p) => p.appDialer.probed) ?? []),
    );
    servers.push(await app(b, 8080, 'b'), await app(s, 8080, 's'), await app(c, 9090, 'c'));
  });

  afterAll(async () => {
    await Promise.all(servers.map(closeServer));
    await cluster?.close();
  });

  it('A calls B by IP across nodes: B sees A, B’s ztunnel reports A’s identity, the link carries only TLS to 15008', async () => {
    const [nodeA, nodeB] = cluster.nodes as [InpodNode, InpodNode];
    const marker = `MARKER-${randomBytes(6).toString('hex')}`;
    const plainMarker = `PLAIN-${randomBytes(6).toString('hex')}`;
    const pcap = join(cluster.dir, 'bridge.pcap');
    const tap = await capture(
      nodeB.cni.nodeNetns,
      nodeB.cni.bridge,
      pcap,
      `tcp and host ${b.ip} and (host ${a.ip} or host ${c.ip})`,
    );
    const reply = await call(a.netns, b.ip, 8080, marker);
    // The control: a non-mesh pod's plaintext is visible in the same capture.
    const plainReply = await call(c.netns, b.ip, 8080, plainMarker);
    await tap.stop();

    expect(reply).toBe(`b sees ${a.ip}\ngot ${marker}`);
    expect(plainReply).toBe(`b sees ${c.ip}\ngot ${plainMarker}`);

    const inbound = await until(
      () =>
        access(nodeB).find(
          (l) => l.reporter === 'destination' && text(l['src.addr']).startsWith(`${a.ip}:`),
        ),
      "b's inbound access-log line",
    );
    expect(inbound).toMatchObject({
      msg: 'connection complete',
      protocol: 'HBONE',
      connection_security_policy: 'mutual_tls',
      'src.identity': ID('mesh', 'client'),
      'src.workload': 'a',
      'dst.workload': 'b',
      'dst.identity': ID('mesh', 'server'),
      'app.src': 'client',
      'dst.addr': `${b.ip}:8080`,
    });
    const outbound = await until(
      () => access(nodeA).find((l) => l.reporter === 'source' && l['dst.workload'] === 'b'),
      "a's outbound access-log line",
    );
    expect(outbound).toMatchObject({
      protocol: 'HBONE',
      'src.workload': 'a',
      'dst.identity': ID('mesh', 'server'),
    });

    const packets = sh('tcpdump', ['-nn', '-r', pcap]).trim().split('\n');
    const meshPackets = packets.filter((l) => l.includes(` ${a.ip}.`));
    expect(meshPackets.length).toBeGreaterThan(5);
    for (const p of meshPackets)
      expect(p).toMatch(new RegExp(`${b.ip.replaceAll('.', '\\.')}\\.15008\\b`));
    const raw = readFileSync(pcap);
    expect(raw.includes(marker)).toBe(false);
    expect(raw.includes(plainMarker)).toBe(true);
    expect(packets.some((l) => l.includes(`${b.ip}.8080`))).toBe(true); // c's plaintext
  });

  it('a non-ambient pod reaches B as plain TCP in PERMISSIVE, and is refused in STRICT', async () => {
    const nodeB = cluster.nodes[1]!;
    expect(await call(c.netns, b.ip, 8080, 'hi')).toBe(`b sees ${c.ip}\ngot hi`);
    const line = await until(
      () =>
        access(nodeB).find(
          (l) => text(l['src.addr']).startsWith(`${c.ip}:`) && l['dst.workload'] === 'b',
        ),
      'plaintext access-log line',
    );
    expect(line).toMatchObject({
      protocol: 'TCP',
      connection_security_policy: 'none',
      'app.src': 'client',
    });
    expect(line['src.identity']).toBeUndefined();

    expect(await call(c.netns, s.ip, 8080, 'let me in')).not.toContain('got');
    const denied = await until(
      () => access(nodeB).find((l) => l.msg === 'connection denied' && l['dst.workload'] === 's'),
      'STRICT denial',
    );
    expect(text(denied.error)).toMatch(/STRICT/);
  });

  it('every captured pod has the reply routing from the node agent: the STRICT pod’s app sees the client too', async () => {
    for (const n of cluster.nodes)
      for (const p of n.z.inpod?.pods ?? []) expect(await p.appDialer.probed).toBe('client');
    expect(await call(a.netns, s.ip, 8080, 'x')).toBe(`s sees ${a.ip}\ngot x`);
    const line = await until(
      () =>
        access(cluster.nodes[1]!).find(
          (l) => l['dst.workload'] === 's' && l.msg === 'connection complete',
        ),
      "s's access-log line",
    );
    expect(line).toMatchObject({ 'src.identity': ID('mesh', 'client'), 'app.src': 'client' });
  });

  it('passthrough to a pod outside the mesh leaves from inside the source pod (its own address)', async () => {
    expect(await call(a.netns, c.ip, 9090, 'pt')).toBe(`c sees ${a.ip}\ngot pt`);
    const line = await until(
      () => access(cluster.nodes[0]!).find((l) => l['dst.addr'] === `${c.ip}:9090`),
      'passthrough line',
    );
    expect(line).toMatchObject({ reporter: 'source', protocol: 'TCP', 'src.workload': 'a' });
  });

  it('a probe from the node reaches the app without ztunnel', async () => {
    const nodeB = cluster.nodes[1]!;
    const before = access(nodeB).length;
    expect(await call(nodeB.cni.nodeNetns, b.ip, 8080, 'probe')).toBe(
      'b sees 169.254.7.127\ngot probe',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(access(nodeB).length).toBe(before);
  });

  it('refuses a connection to the capture port itself instead of looping', async () => {
    expect(await call(a.netns, a.ip, 15001, 'loop')).toBe('');
    expect(await call(a.netns, '127.0.0.1', 15001, 'loop')).toBe('');
    await until(
      () =>
        cluster.nodes[0]!.logs.json().find((l) =>
          text(l.msg).includes('outbound capture port itself'),
        ),
      'the loop refusal in the log',
    );
  });

  it('DEL removes the rules and ztunnel’s listeners for that pod', async () => {
    const node = cluster.nodes[0]!;
    const d = await cluster.addPod({
      node: 0,
      namespace: 'mesh',
      name: 'd',
      serviceAccount: 'client',
    });
    await node.z.inpod?.pods.find((x) => x.pod.uid === d.uid)?.appDialer.probed;
    expect(listeningPorts(d.netns)).toEqual(CAPTURE_PORTS);
    expect(node.z.inpod?.pods.map((p) => p.pod.uid)).toContain(d.uid);
    expect(node.cni.nftTable(d.netns, 'ambit')).toContain('redirect to :15001');

    expect((await node.cni.delPod(d)).code).toBe(0);
    expect(node.cni.nftTable(d.netns, 'ambit')).toBeUndefined();
    expect(node.cni.nftTable(node.cni.nodeNetns, 'ambit-node')).not.toContain(d.ip);
    expect(listeningPorts(d.netns)).toEqual([]);
    expect(node.z.inpod?.pods.map((p) => p.pod.uid)).not.toContain(d.uid);
    node.cni.removePod(d);
    cluster.pods.splice(cluster.pods.indexOf(d), 1);
  });

  it('an agent restart re-sends the set; ztunnel keeps the listeners of pods still there', async () => {
    const node = cluster.nodes[0]!;
    const held = node.z.inpod?.pods.find((p) => p.pod.uid === a.uid);
    await node.agent.close();
    await node.agent.start();
    await until(() => (node.z.inpod?.pods.length ? true : undefined), 'snapshot');
    await new Promise((r) => setTimeout(r, 200));
    expect(node.z.inpod?.pods.find((p) => p.pod.uid === a.uid)).toBe(held);
    expect(await call(a.netns, b.ip, 8080, 'again')).toBe(`b sees ${a.ip}\ngot again`);
  });

  it('enrols and removes a pod 200 times: fds, rules and listeners back to baseline', async () => {
    const node = cluster.nodes[0]!;
    const p = await cluster.addPod({
      node: 0,
      namespace: 'mesh',
      name: 'loop',
      serviceAccount: 'client',
    });
    const socket = join(node.cni.dir, 'cni.sock');
    const req = (command: 'ADD' | 'DEL') => ({
      v: CNI_WIRE_VERSION,
      command,
      containerId: p.containerId,
      netns: p.netns,
      ifname: 'eth0',
      pod: { name: p.name, namespace: p.namespace, uid: p.uid },
      ips: [p.ip],
    });
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const podsHeld = (): number => node.z.inpod?.pods.length ?? -1;
    await callAgent(socket, req('DEL'), 10_000);
    for (let i = 0; i < 3; i++) {
      await callAgent(socket, req('ADD'), 10_000);
      await callAgent(socket, req('DEL'), 10_000);
    }
    const fdBefore = fds();
    const heldBefore = podsHeld();
    for (let i = 0; i < 200; i++) {
      expect(await callAgent(socket, req('ADD'), 10_000)).toEqual({
        ok: true,
        reply: { v: 1, result: 'enrolled' },
      });
      if (i % 50 === 0) {
        await node.z.inpod?.pods.find((x) => x.pod.uid === p.uid)?.appDialer.probed;
        expect(listeningPorts(p.netns)).toEqual(CAPTURE_PORTS);
      }
      expect(await callAgent(socket, req('DEL'), 10_000)).toEqual({
        ok: true,
        reply: { v: 1, result: 'released' },
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(podsHeld()).toBe(heldBefore);
    expect(listeningPorts(p.netns)).toEqual([]);
    expect(node.cni.nftTable(p.netns, 'ambit')).toBeUndefined();
    expect(node.cni.replyRouting(p.netns)).toEqual([]);
    expect(fds()).toBeLessThanOrEqual(fdBefore + 2);
  });
});
