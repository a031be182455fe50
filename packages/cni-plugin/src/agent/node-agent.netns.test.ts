// Network-namespace integration tests (root). A node netns with a bridge; pods made by the real
// CNI plugins and then ambit-cni, run as a runtime runs them; the node agent in this process with
// a local pods file; on the ztunnel side a real InpodServer that records handoffs and ACKs them
// (the ztunnel in-pod mode comes later).

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import { callAgent } from '../plugin/call-agent.ts';
import { CNI_WIRE_VERSION } from '../cni-wire.ts';
import { CniNode, greeterInNetns, readFromNetns, sh, type TestPod } from '../testing/cni-node.ts';
import { waitFor, ztunnelRecorder, type Recorder } from '../testing/ztunnel-recorder.ts';
import { CniServer } from './cni-server.ts';
import { LocalPodSource } from './local-pod-source.ts';
import { NodeAgent } from './node-agent.ts';

const SEA = join(import.meta.dirname, '../../build/ambit-cni');

describe('node agent with ambit-cni in real network namespaces', () => {
  let node: CniNode;
  let podsFile: string;
  let source: LocalPodSource;
  let agent: NodeAgent;
  let cniServer: CniServer;
  let zt: Recorder;
  const stops: (() => unknown)[] = [];

  const writePods = (namespaces: object[], pods: object[]): void =>
    writeFileSync(podsFile, JSON.stringify({ namespaces, pods }));
  const ambientNs = { name: 'mesh', labels: { 'ambit.dev/dataplane-mode': 'ambient' } };
  const plainNs = { name: 'plain', labels: {} };
  const podEntry = (p: TestPod, extra = {}): object => ({
    name: p.name,
    namespace: p.namespace,
    uid: p.uid,
    serviceAccount: 'sa-' + p.name,
    ...extra,
  });

  async function startAgent(): Promise<void> {
    source = new LocalPodSource(podsFile);
    await source.reload();
    agent = new NodeAgent({
      node: 'node-a',
      source,
      stateFile: join(node.dir, 'agent-state.json'),
      ztunnel: { socketPath: join(node.dir, 'ztunnel.sock'), ackTimeoutMs: 1500 },
      probeSnat: { netns: node.nodeNetns },
      logger: createLogger({ level: 'error', out: { write: () => true } }),
    });
    cniServer = new CniServer({
      socketPath: join(node.dir, 'cni.sock'),
      handle: (r) => agent.handleCni(r),
    });
    await cniServer.listen();
    await agent.start();
  }
  async function stopAgent(): Promise<void> {
    await cniServer.close();
    await agent.close();
    source.close();
  }

  beforeAll(async () => {
    node = new CniNode('/placeholder');
    node.ambitConfig = { ...node.ambitConfig, agentSocket: join(node.dir, 'cni.sock') };
    podsFile = join(node.dir, 'pods.yaml');
    writePods([ambientNs, plainNs], []);
    zt = await ztunnelRecorder(join(node.dir, 'ztunnel.sock'));
    await startAgent();
  });
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });
  afterAll(async () => {
    await stopAgent().catch(() => undefined);
    await zt.server.close();
    node.cleanup();
  });

  it('captures an ambient pod on ADD and releases it on DEL', async () => {
    const pod = node.newPod('mesh', 'web');
    writePods([ambientNs, plainNs], [podEntry(pod)]);
    await source.reload();
    const { bridge, ambit } = await node.addPod(pod);
    expect(ambit.code).toBe(0);
    // prevResult passed through unchanged.
    expect(ambit.json).toEqual(bridge.json);
    const table = node.nftTable(pod.netns, 'ambit');
    expect(table).toContain('redirect to :15001');
    expect(table).toContain('redirect to :15006');
    expect(zt.held.get(pod.uid)).toEqual({
      uid: pod.uid,
      name: 'web',
      namespace: 'mesh',
      serviceAccount: 'sa-web',
      netns: pod.netns,
      ips: [pod.ip],
    });
    expect(node.nftTable(node.nodeNetns, 'ambit-node')).toContain(pod.ip);
    // Reply routing for the client's address: marks in the same table, a rule and a local route.
    expect(table).toContain('meta mark 0x00000539 ct mark set 0x00000111');
    expect(table).toContain('ct mark 0x00000111 meta mark set 0x00000111');
    expect(node.replyRouting(pod.netns)).toEqual([
      '32764:\tfrom all fwmark 0x111 lookup 100',
      'local default dev lo scope host',
    ]);

    const del = await node.delPod(pod);
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(node.nftTable(pod.netns, 'ambit')).toBeUndefined();
    expect(node.replyRouting(pod.netns)).toEqual([]);
    expect(zt.held.has(pod.uid)).toBe(false);
    expect(node.nftTable(node.nodeNetns, 'ambit-node')).not.toContain(pod.ip);
    node.removePod(pod);
  });

  it('leaves a non-ambient pod alone, and an opted-out pod in an ambient namespace', async () => {
    const plain = node.newPod('plain', 'plain1');
    const optOut = node.newPod('mesh', 'optout');
    writePods(
      [ambientNs, plainNs],
      [podEntry(plain), podEntry(optOut, { labels: { 'ambit.dev/dataplane-mode': 'none' } })],
    );
    await source.reload();
    {
      for (const p of [plain, optOut]) {
        const { bridge, ambit } = await node.addPod(p);
        expect(ambit.code).toBe(0);
        expect(ambit.json).toEqual(bridge.json);
        expect(node.nftTable(p.netns, 'ambit')).toBeUndefined();
        expect(zt.held.has(p.uid)).toBe(false);
        expect((await node.delPod(p)).code).toBe(0);
        node.removePod(p);
      }
    }
  });

  it('programs the rules once however often ADD is repeated, and CHECK confirms them', async () => {
    const pod = node.newPod('mesh', 'twice');
    writePods([ambientNs], [podEntry(pod)]);
    await source.reload();
    const { bridge } = await node.addPod(pod);
    expect((await node.runAmbit('ADD', pod, bridge.json)).code).toBe(0);
    const ruleset = sh('nsenter', [`--net=${pod.netns}`, 'nft', 'list', 'ruleset']);
    expect(ruleset.match(/table inet ambit /g)).toHaveLength(1);
    expect(ruleset.match(/redirect to :15001/g)).toHaveLength(1);
    expect(node.replyRouting(pod.netns)).toHaveLength(2); // one rule, one route
    expect(await node.runAmbit('CHECK', pod, bridge.json)).toMatchObject({ code: 0, stdout: '' });
    // Someone flushes the rules: CHECK reports it in the spec's error shape.
    sh('nsenter', [`--net=${pod.netns}`, 'nft', 'delete', 'table', 'inet', 'ambit']);
    const check = await node.runAmbit('CHECK', pod, bridge.json);
    expect(check.code).not.toBe(0);
    expect(check.json).toMatchObject({
      cniVersion: '1.0.0',
      code: 100,
      details: expect.stringMatching(/missing/) as unknown,
    });
    await node.delPod(pod);
    node.removePod(pod);
  });

  it('DEL with no state and no netns succeeds', async () => {
    const ghost: TestPod = {
      name: 'ghost',
      namespace: 'mesh',
      uid: 'u-ghost',
      containerId: 'never-added',
      netnsName: 'none',
      netns: '/var/run/netns/does-not-exist',
    };
    expect(await node.runAmbit('DEL', ghost)).toMatchObject({ code: 0, stdout: '' });
  });

  it('answers malformed input with the spec error JSON', async () => {
    const pod = node.newPod('mesh', 'bad');
    const env = node.cniEnv('ADD', pod);
    const bad = await node.runPlugin(node.pluginCommand, env, '{"cniVersion":');
    expect(bad.code).not.toBe(0);
    expect(bad.json).toMatchObject({
      cniVersion: '1.0.0',
      code: 6,
      msg: expect.any(String) as unknown,
    });
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'x',
      type: 'ambit-cni',
      prevResult: {},
    });
    const noNetns = await node.runPlugin(
      node.pluginCommand,
      { ...env, CNI_NETNS: undefined },
      conf,
    );
    expect(noNetns.json).toMatchObject({ code: 4, msg: 'CNI_NETNS is not set' });
    const unknown = await node.runPlugin(node.pluginCommand, { ...env, CNI_COMMAND: 'FROB' }, conf);
    expect(unknown.code).not.toBe(0);
    expect(unknown.json).toMatchObject({ code: 4 });
    const version = await node.runPlugin(
      node.pluginCommand,
      { CNI_COMMAND: 'VERSION' },
      '{"cniVersion":"1.0.0"}',
    );
    expect(version.json).toEqual({
      cniVersion: '1.0.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'],
    });
    node.removePod(pod);
  });

  it('fails ADD with code 11 when the agent is absent or times out, and the node keeps working', async () => {
    const pod = node.newPod('mesh', 'noagent');
    writePods([ambientNs], [podEntry(pod)]);
    await source.reload();
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.77.0.250/24' }] };
    const absent = await node.runAmbit('ADD', pod, prev, {
      agentSocket: join(node.dir, 'nobody.sock'),
    });
    expect(absent.code).not.toBe(0);
    expect(absent.json).toMatchObject({
      code: 11,
      msg: expect.stringMatching(/not reachable/) as unknown,
    });

    const silentPath = join(node.dir, 'silent.sock');
    const conns: Socket[] = [];
    const silent: Server = createServer((s) => conns.push(s.resume()));
    await new Promise<void>((r) => silent.listen(silentPath, r));
    // spawnSync would block this event loop (and the silent server): run the plugin async.
    const { spawn } = await import('node:child_process');
    const child = spawn('nsenter', [`--net=${node.nodeNetns}`, ...node.pluginCommand], {
      env: { PATH: process.env.PATH, ...node.cniEnv('ADD', pod) },
    });
    child.stdin.end(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'x',
        type: 'ambit-cni',
        agentSocket: silentPath,
        timeoutMs: 300,
        prevResult: prev,
      }),
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    for (const s of conns) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    expect(code).not.toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      code: 11,
      msg: expect.stringMatching(/did not answer within 300 ms/) as unknown,
    });
    expect(node.nftTable(pod.netns, 'ambit')).toBeUndefined();
    node.removePod(pod);

    // The node stays usable: the next pod goes through the real agent.
    const next = node.newPod('mesh', 'after');
    writePods([ambientNs], [podEntry(next)]);
    await source.reload();
    expect((await node.addPod(next)).ambit.code).toBe(0);
    expect(zt.held.has(next.uid)).toBe(true);
    await node.delPod(next);
    node.removePod(next);
  });

  it('fails ADD with code 11 when ztunnel is down, leaving no rules behind', async () => {
    const pod = node.newPod('mesh', 'nozt');
    writePods([ambientNs], [podEntry(pod)]);
    await source.reload();
    await zt.server.close();
    try {
      const { ambit } = await node.addPod(pod);
      expect(ambit.code).not.toBe(0);
      expect(ambit.json).toMatchObject({ code: 11 });
      expect(node.nftTable(pod.netns, 'ambit')).toBeUndefined();
      expect(node.replyRouting(pod.netns)).toEqual([]);
    } finally {
      zt = await ztunnelRecorder(join(node.dir, 'ztunnel.sock'));
      await waitFor(() => zt.log.length > 0);
    }
    await node.delPod(pod);
    node.removePod(pod);
  });

  it('lets node-originated probes reach the app while other traffic goes to ztunnel', async () => {
    const app = node.newPod('mesh', 'app');
    const client = node.newPod('plain', 'client');
    writePods([ambientNs, plainNs], [podEntry(app), podEntry(client)]);
    await source.reload();
    await node.addPod(app);
    await node.addPod(client);
    stops.push(await greeterInNetns(app.netns, 8080, 'app'));
    stops.push(await greeterInNetns(app.netns, 15006, 'ztunnel-inbound'));
    // A probe from the node (its bridge address, SNATed to 169.254.7.127) reaches the app.
    expect(readFromNetns(node.nodeNetns, app.ip!, 8080)).toBe('app');
    expect(node.nftTable(app.netns, 'ambit')).toMatch(/169\.254\.7\.127 counter packets [1-9]/);
    // Another pod's plaintext connection is redirected to ztunnel's inbound port.
    expect(readFromNetns(client.netns, app.ip!, 8080)).toBe('ztunnel-inbound');
    await node.delPod(app);
    await node.delPod(client);
    node.removePod(app);
    node.removePod(client);
  });

  it('enrols running pods when their namespace is labelled, and releases them when unlabelled', async () => {
    const ns = { name: 'later', labels: {} };
    const p = node.newPod('later', 'runner');
    writePods([ns], [podEntry(p)]);
    await source.reload();
    await node.addPod(p);
    expect(node.nftTable(p.netns, 'ambit')).toBeUndefined();
    writePods([{ ...ns, labels: { 'ambit.dev/dataplane-mode': 'ambient' } }], [podEntry(p)]);
    await source.reload();
    await agent.reconcile();
    expect(node.nftTable(p.netns, 'ambit')).toContain('redirect');
    expect(zt.held.has(p.uid)).toBe(true);
    expect(source.enrolment.get(p.uid)).toBe(true);
    writePods([ns], [podEntry(p)]);
    await source.reload();
    await agent.reconcile();
    expect(node.nftTable(p.netns, 'ambit')).toBeUndefined();
    expect(node.replyRouting(p.netns)).toEqual([]);
    expect(zt.held.has(p.uid)).toBe(false);
    await node.delPod(p);
    node.removePod(p);
  });

  it('re-sends the full set after an agent restart; ztunnel drops only the pod that is gone', async () => {
    const a = node.newPod('mesh', 'keep');
    const b = node.newPod('mesh', 'gone');
    writePods([ambientNs], [podEntry(a), podEntry(b)]);
    await source.reload();
    await node.addPod(a);
    await node.addPod(b);
    expect(zt.held.has(a.uid) && zt.held.has(b.uid)).toBe(true);
    await stopAgent();
    // While the agent is down, pod b's sandbox goes (its DEL could not reach the agent).
    expect((await node.delPod(b)).code).toBe(0);
    node.removePod(b);
    zt.log.length = 0;
    await startAgent();
    await waitFor(() => zt.log.length > 0);
    expect(zt.log[0]).toBe('snapshot:keep');
    expect([...zt.held.keys()]).toEqual([a.uid]);
    expect(node.nftTable(a.netns, 'ambit')).toContain('redirect');
    await node.delPod(a);
    node.removePod(a);
  });

  it('enrols and removes a pod 200 times without leaking fds, rules or netns', async () => {
    const p = node.newPod('mesh', 'loop');
    writePods([ambientNs], [podEntry(p)]);
    await source.reload();
    const { bridge } = await node.addPod(p);
    await node.runAmbit('DEL', p);
    // Only this node's netns: other suites may create and delete theirs meanwhile.
    const ours = (): string[] => readdirSync('/var/run/netns').filter((n) => n.includes(node.id));
    const netnsBefore = ours();
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const socket = join(node.dir, 'cni.sock');
    const req = (command: 'ADD' | 'DEL') => ({
      v: CNI_WIRE_VERSION,
      command,
      containerId: p.containerId,
      netns: p.netns,
      ifname: 'eth0',
      pod: { name: p.name, namespace: p.namespace, uid: p.uid },
      ips: [p.ip!],
    });
    // Warm up (lazy allocations), then measure. The plugin's own code path (callAgent) is used
    // directly: spawning 400 processes would test process start-up, not the agent.
    for (let i = 0; i < 3; i++) {
      await callAgent(socket, req('ADD'), 10_000);
      await callAgent(socket, req('DEL'), 10_000);
    }
    const fdBefore = fds();
    for (let i = 0; i < 200; i++) {
      const add = await callAgent(socket, req('ADD'), 10_000);
      expect(add).toEqual({ ok: true, reply: { v: 1, result: 'enrolled' } });
      const del = await callAgent(socket, req('DEL'), 10_000);
      expect(del).toEqual({ ok: true, reply: { v: 1, result: 'released' } });
    }
    expect(fds()).toBeLessThanOrEqual(fdBefore + 2);
    expect(node.nftTable(p.netns, 'ambit')).toBeUndefined();
    expect(node.replyRouting(p.netns)).toEqual([]);
    expect(node.nftTable(node.nodeNetns, 'ambit-node')).not.toContain(p.ip!);
    expect(ours()).toEqual(netnsBefore);
    expect(zt.held.size).toBe(0);
    expect(agent.known()).toEqual([]);
    // The runtime's view is unchanged too: a final real ADD/DEL still works.
    expect((await node.runAmbit('ADD', p, bridge.json)).code).toBe(0);
    expect((await node.delPod(p)).code).toBe(0);
    node.removePod(p);
  });

  it('the single-executable ambit-cni behaves like main.ts', async () => {
    // Cached: only the first run after a source change pays for the build.
    const build = spawnSync('bash', [join(import.meta.dirname, '../../scripts/build-sea.sh')], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    expect(build.status, build.stderr).toBe(0);
    expect(existsSync(SEA)).toBe(true);
    const saved = node.pluginCommand;
    node.pluginCommand = [SEA];
    try {
      const pod = node.newPod('mesh', 'sea');
      writePods([ambientNs], [podEntry(pod)]);
      await source.reload();
      const { bridge, ambit } = await node.addPod(pod);
      expect(ambit.code).toBe(0);
      expect(ambit.json).toEqual(bridge.json);
      expect(node.nftTable(pod.netns, 'ambit')).toContain('redirect');
      expect((await node.runAmbit('ADD', pod, undefined)).json).toMatchObject({ code: 7 });
      expect(await node.delPod(pod)).toMatchObject({ code: 0, stdout: '' });
      expect(node.nftTable(pod.netns, 'ambit')).toBeUndefined();
      node.removePod(pod);
    } finally {
      node.pluginCommand = saved;
    }
  });
});
