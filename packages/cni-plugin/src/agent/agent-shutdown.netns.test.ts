// The node agent's stop in real network namespaces (root): pods made by the real CNI plugins and
// ambit-cni, ambit-cni installed into a conflist and bin dir of the test node, an InpodServer
// standing in for ztunnel. A restart leaves everything captured; an uninstall leaves the node and
// its pods as if Ambit had never been there, and the pods keep talking to each other.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@ambit/core/log';
import { CniNode, greeterInNetns, readFromNetns, type TestPod } from '../testing/cni-node.ts';
import { waitFor, ztunnelRecorder, type Recorder } from '../testing/ztunnel-recorder.ts';
import { shutdownAgent } from './agent-shutdown.ts';
import { CniServer } from './cni-server.ts';
import { hasAmbitPlugin } from './conflist.ts';
import { installCni } from './install-cni.ts';
import { LocalPodSource } from './local-pod-source.ts';
import { NodeAgent } from './node-agent.ts';

const quiet = createLogger({ level: 'error', out: { write: () => true } });

describe('node agent shutdown in real network namespaces', () => {
  let node: CniNode;
  let podsFile: string;
  let source: LocalPodSource;
  let agent: NodeAgent;
  let server: CniServer;
  let zt: Recorder;
  const stops: (() => unknown)[] = [];
  const dirs = { cniBinDir: '', cniConfDir: '' };
  let conflist: string;
  let stateFile: string;
  const ambientNs = { name: 'mesh', labels: { 'ambit.dev/dataplane-mode': 'ambient' } };
  const plainNs = { name: 'plain', labels: {} };
  const entry = (p: TestPod): object => ({
    name: p.name,
    namespace: p.namespace,
    uid: p.uid,
    serviceAccount: 'sa',
  });

  async function startAgent(): Promise<void> {
    source = new LocalPodSource(podsFile);
    await source.reload();
    agent = new NodeAgent({
      node: 'node-s',
      source,
      stateFile,
      ztunnel: { socketPath: join(node.dir, 'ztunnel.sock'), ackTimeoutMs: 1500 },
      probeSnat: { netns: node.nodeNetns },
      logger: quiet,
      releaseDeadlineMs: 2000,
    });
    server = new CniServer({
      socketPath: join(node.dir, 'cni.sock'),
      handle: (r) => agent.handleCni(r),
    });
    await server.listen();
    await agent.start();
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this suite needs root (netns, nft)');
    node = new CniNode('/placeholder', 79);
    node.ambitConfig = { ...node.ambitConfig, agentSocket: join(node.dir, 'cni.sock') };
    podsFile = join(node.dir, 'pods.yaml');
    stateFile = join(node.dir, 'agent-state.json');
    dirs.cniBinDir = join(node.dir, 'bin');
    dirs.cniConfDir = join(node.dir, 'net.d');
    mkdirSync(dirs.cniBinDir);
    mkdirSync(dirs.cniConfDir);
    conflist = join(dirs.cniConfDir, '10-test.conflist');
    writeFileSync(
      conflist,
      JSON.stringify({ cniVersion: '1.0.0', name: 'ambit-test', plugins: [{ type: 'bridge' }] }),
    );
    writeFileSync(join(node.dir, 'ambit-cni-build'), '#!/bin/sh\n');
    await installCni({
      pluginBinary: join(node.dir, 'ambit-cni-build'),
      ...dirs,
      pluginConfig: { agentSocket: join(node.dir, 'cni.sock') },
    });
    writeFileSync(podsFile, JSON.stringify({ namespaces: [ambientNs, plainNs], pods: [] }));
    zt = await ztunnelRecorder(join(node.dir, 'ztunnel.sock'));
    await startAgent();
  });
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });
  afterAll(async () => {
    await server?.close().catch(() => undefined);
    await agent?.close().catch(() => undefined);
    source?.close();
    await zt?.server.close();
    node?.cleanup();
  });

  it('a restart keeps pods captured and ambit-cni installed; an uninstall removes every trace and the pods still talk', async () => {
    const app = node.newPod('mesh', 'app');
    const web = node.newPod('mesh', 'web');
    const client = node.newPod('plain', 'client');
    writeFileSync(
      podsFile,
      JSON.stringify({
        namespaces: [ambientNs, plainNs],
        pods: [entry(app), entry(web), entry(client)],
      }),
    );
    await source.reload();
    for (const p of [app, web, client]) expect((await node.addPod(p)).ambit.code).toBe(0);
    stops.push(await greeterInNetns(app.netns, 8080, 'app'));
    stops.push(await greeterInNetns(app.netns, 15006, 'ztunnel-inbound'));
    stops.push(await greeterInNetns(client.netns, 8080, 'client'));
    // Captured: the plain client lands on "ztunnel"; the app's outbound goes to :15001 (nobody).
    expect(readFromNetns(client.netns, app.ip!, 8080)).toBe('ztunnel-inbound');
    expect(readFromNetns(app.netns, client.ip!, 8080)).toBe('');

    // A restart: nothing changes on the node.
    await shutdownAgent({
      plan: { uninstall: false, reason: 'test: restart' },
      agent,
      server,
      install: dirs,
      log: quiet,
    });
    source.close();
    expect(node.nftTable(app.netns, 'ambit')).toContain('redirect');
    expect(node.replyRouting(web.netns)).toHaveLength(2);
    expect(hasAmbitPlugin(readFileSync(conflist, 'utf8'))).toBe(true);
    expect(existsSync(join(dirs.cniBinDir, 'ambit-cni'))).toBe(true);
    expect(existsSync(stateFile)).toBe(true);
    expect(readFromNetns(client.netns, app.ip!, 8080)).toBe('ztunnel-inbound');

    // The next agent re-syncs from the state file, then is told the mesh is going.
    zt.log.length = 0;
    await startAgent();
    await waitFor(() => zt.log.length > 0);
    expect(zt.log[0]).toBe('snapshot:app,web');
    agent.setUninstalling(true);
    // A pod created while the DaemonSet is being deleted starts plain.
    const late = node.newPod('mesh', 'late');
    writeFileSync(
      podsFile,
      JSON.stringify({
        namespaces: [ambientNs, plainNs],
        pods: [entry(app), entry(web), entry(client), entry(late)],
      }),
    );
    await source.reload();
    expect((await node.addPod(late)).ambit.code).toBe(0);
    expect(node.nftTable(late.netns, 'ambit')).toBeUndefined();
    expect(zt.held.has(late.uid)).toBe(false);

    // The API refuses one annotation patch (as it does once the release's RBAC is gone): the
    // summary counts it as failed rather than calling the annotations done.
    const record = source.recordEnrolment.bind(source);
    source.recordEnrolment = (pod, enrolled) =>
      pod.name === 'web' && !enrolled
        ? Promise.reject(new Error('pods "web" is forbidden (403)'))
        : record(pod, enrolled);
    const summary = await shutdownAgent({
      plan: { uninstall: true, reason: 'test: DaemonSet deleted' },
      agent,
      server,
      install: dirs,
      log: quiet,
    });
    expect(summary).toEqual({
      released: 2,
      failed: 0,
      ztunnelTold: true,
      annotationsDone: true,
      annotationsRemoved: 1,
      annotationsFailed: 1,
    });
    // ambit-cni is off the node: the conflist is the original chain, the binary is gone.
    expect(JSON.parse(readFileSync(conflist, 'utf8'))).toEqual({
      cniVersion: '1.0.0',
      name: 'ambit-test',
      plugins: [{ type: 'bridge' }],
    });
    expect(existsSync(join(dirs.cniBinDir, 'ambit-cni'))).toBe(false);
    // Every rule the agent made is gone: pod tables, reply routing, the node probe table.
    for (const p of [app, web]) {
      expect(node.nftTable(p.netns, 'ambit')).toBeUndefined();
      expect(node.replyRouting(p.netns)).toEqual([]);
    }
    expect(source.enrolment.get(app.uid)).toBe(false);
    expect(source.enrolment.get(web.uid)).not.toBe(false); // the refused one was never unmarked
    expect(node.nftTable(node.nodeNetns, 'ambit-node')).toBeUndefined();
    // ztunnel was handed the empty set; the state file is gone.
    expect(zt.log.at(-1)).toBe('snapshot:');
    expect(zt.held.size).toBe(0);
    expect(existsSync(stateFile)).toBe(false);
    // The pods keep running and reach each other plainly, both ways.
    expect(readFromNetns(client.netns, app.ip!, 8080)).toBe('app');
    expect(readFromNetns(app.netns, client.ip!, 8080)).toBe('client');
    expect(readFromNetns(node.nodeNetns, app.ip!, 8080)).toBe('app');
    for (const p of [app, web, client, late]) node.removePod(p);
  });
});
