// The node agent as a process (main.ts) against a real API server (e2e/vitest.k8s.config.ts), in
// real network namespaces (root): it installs ambit-cni into a test conflist and bin dir, captures
// a pod of an ambient namespace, and is stopped with SIGTERM twice: once with its DaemonSet there
// (a restart: nothing changes on the node), once after the DaemonSet was deleted (an uninstall:
// ambit-cni off the node, the pod released and reachable, its annotation and the state file gone).
//
//   scripts/with-toolchain pnpm exec vitest run --config e2e/vitest.k8s.config.ts \
//     packages/cni-plugin/src/agent/main.k8s.test.ts

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ENROLLED_ANNOTATION } from '@ambit/core/mesh/ambient';
import { CniNode, greeterInNetns, readFromNetns, type TestPod } from '../testing/cni-node.ts';
import { waitFor, ztunnelRecorder, type Recorder } from '../testing/ztunnel-recorder.ts';
import { hasAmbitPlugin } from './conflist.ts';

const MAIN = join(import.meta.dirname, 'main.ts');

describe('ambit-node-agent (main.ts) stopped with SIGTERM: restart or uninstall', () => {
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const nodeName = `main-node-${suffix}`;
  const namespace = `main-${suffix}`;
  const dsName = 'ambit-node-agent';
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let node: CniNode;
  let zt: Recorder;
  let configFile: string;
  let conflist: string;
  let binDir: string;
  let stateFile: string;
  let agent: { child: ChildProcess; lines: string[] } | undefined;
  const stops: (() => void)[] = [];

  function startAgent(): { child: ChildProcess; lines: string[] } {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'run',
        `--config=${configFile}`,
        `--node-name=${nodeName}`,
        `--kubeconfig=${inject('ambitKubeconfig')}`,
        `--daemonset=${namespace}/${dsName}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: string[] = [];
    let buf = '';
    const take = (d: Buffer): void => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    return { child, lines };
  }
  const logged = (a: { lines: string[] }, msg: string): boolean =>
    a.lines.some((l) => l.includes(msg));
  async function stop(a: { child: ChildProcess; lines: string[] }): Promise<number | null> {
    const exited = new Promise<number | null>((r) => a.child.once('exit', r));
    a.child.kill('SIGTERM');
    return exited;
  }
  const annotation = async (name: string): Promise<string | undefined> =>
    (await core.readNamespacedPod({ name, namespace })).metadata?.annotations?.[
      ENROLLED_ANNOTATION
    ];

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this suite needs root (pod netns, nft)');
    const kc = new KubeConfig();
    kc.loadFromFile(inject('ambitKubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    await core.createNode({ body: { metadata: { name: nodeName } } });
    await core.createNamespace({
      body: { metadata: { name: namespace, labels: { 'ambit.dev/dataplane-mode': 'ambient' } } },
    });
    await apps.createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name: dsName },
        spec: {
          selector: { matchLabels: { app: dsName } },
          template: {
            metadata: { labels: { app: dsName } },
            spec: {
              nodeSelector: { 'ambit.dev/no-such-node': 'true' },
              containers: [{ name: 'agent', image: 'registry.invalid/agent:1' }],
            },
          },
        },
      },
    });

    node = new CniNode('/placeholder', 80);
    const sock = join(node.dir, 'cni.sock');
    node.ambitConfig = { ...node.ambitConfig, agentSocket: sock };
    binDir = join(node.dir, 'bin');
    const confDir = join(node.dir, 'net.d');
    mkdirSync(binDir);
    mkdirSync(confDir);
    conflist = join(confDir, '10-test.conflist');
    writeFileSync(
      conflist,
      JSON.stringify({ cniVersion: '1.0.0', name: 'ambit-test', plugins: [{ type: 'bridge' }] }),
    );
    writeFileSync(join(node.dir, 'ambit-cni-build'), '#!/bin/sh\n');
    stateFile = join(node.dir, 'state.json');
    configFile = join(node.dir, 'agent.yaml');
    writeFileSync(
      configFile,
      [
        `cniSocket: ${sock}`,
        `ztunnelSocket: ${join(node.dir, 'ztunnel.sock')}`,
        `stateFile: ${stateFile}`,
        'ackTimeoutMs: 2000',
        `probeSnat: { netns: ${node.nodeNetns} }`,
        'install:',
        `  pluginBinary: ${join(node.dir, 'ambit-cni-build')}`,
        `  cniBinDir: ${binDir}`,
        `  cniConfDir: ${confDir}`,
        '',
      ].join('\n'),
    );
    zt = await ztunnelRecorder(join(node.dir, 'ztunnel.sock'));
  });

  afterAll(async () => {
    for (const s of stops) s();
    if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await zt?.server.close();
    node?.cleanup();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
    await core?.deleteNode({ name: nodeName }).catch(() => undefined);
  });

  it('restart keeps the pod captured; uninstall leaves the node and the pod as before Ambit', async () => {
    agent = startAgent();
    await waitFor(() => logged(agent!, 'node agent ready'), 30_000);
    expect(hasAmbitPlugin(readFileSync(conflist, 'utf8'))).toBe(true);

    const created = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: { nodeName, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    });
    const uid = created.metadata?.uid;
    if (uid === undefined) throw new Error('the API server returned a pod without uid');
    const web: TestPod = node.newPod(namespace, 'web', uid);
    expect((await node.addPod(web)).ambit.code).toBe(0);
    expect(node.nftTable(web.netns, 'ambit')).toContain('redirect');
    expect(await annotation('web')).toMatch(new RegExp(`^${nodeName}/`));
    stops.push(await greeterInNetns(web.netns, 8080, 'web'));
    stops.push(await greeterInNetns(web.netns, 15006, 'ztunnel-inbound'));
    expect(readFromNetns(node.nodeNetns, web.ip!, 8080)).toBe('web'); // probe SNAT exempts the node
    // A pod outside the mesh reaches "ztunnel" (the redirect), not the app.
    const client = node.newPod('plain', 'client');
    expect((await node.addPod(client)).ambit.code).toBe(0);
    expect(readFromNetns(client.netns, web.ip!, 8080)).toBe('ztunnel-inbound');

    // SIGTERM with the DaemonSet there: a restart.
    expect(await stop(agent)).toBe(0);
    expect(logged(agent, 'stopping for a restart')).toBe(true);
    expect(node.nftTable(web.netns, 'ambit')).toContain('redirect');
    expect(hasAmbitPlugin(readFileSync(conflist, 'utf8'))).toBe(true);
    expect(existsSync(stateFile)).toBe(true);

    // The next agent; then helm uninstall deletes the DaemonSet; then the kubelet stops the agent.
    agent = startAgent();
    await waitFor(() => logged(agent!, 'node agent ready'), 30_000);
    await apps.deleteNamespacedDaemonSet({ name: dsName, namespace });
    await waitFor(() => logged(agent!, 'no longer captured'), 15_000);
    expect(await stop(agent)).toBe(0);
    const decision = agent.lines.find((l) => l.includes('stopping for an uninstall'));
    expect(decision).toMatch(/is gone \(404\)/);

    expect(hasAmbitPlugin(readFileSync(conflist, 'utf8'))).toBe(false);
    expect(existsSync(join(binDir, 'ambit-cni'))).toBe(false);
    expect(node.nftTable(web.netns, 'ambit')).toBeUndefined();
    expect(node.replyRouting(web.netns)).toEqual([]);
    expect(node.nftTable(node.nodeNetns, 'ambit-node')).toBeUndefined();
    expect(existsSync(stateFile)).toBe(false);
    expect(zt.held.size).toBe(0);
    expect(await annotation('web')).toBeUndefined();
    // The app itself answers now, to the plain pod and to the node.
    expect(readFromNetns(client.netns, web.ip!, 8080)).toBe('web');
    expect(readFromNetns(node.nodeNetns, web.ip!, 8080)).toBe('web');
    node.removePod(client);
    node.removePod(web);
  });
});
