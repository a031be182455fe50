// `make demo` as root: the same mesh as the explicit-mode demo (demo.ts), but with real capture.
// Two "nodes" (network namespaces with a bridge, joined by a veth), each with a CNI node agent and
// a ztunnel in in-pod mode (in this process); four pods made by Debian's CNI plugins and then
// ambit-cni, as a container runtime makes them; apps that are plain HTTP servers and clients
// inside the pods, talking to IPs with no proxy settings. Every netns, veth and listener is removed
// at the end, on an error, and on Ctrl-C. `--keep` leaves it running with commands to try.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { Socket } from 'node:net';
import { socketInNetns } from '@ambit/netns';
import { closedConnectionsExcerpt } from './dev/metrics-excerpt.ts';
import {
  InpodCluster,
  type ClusterPod,
  type InpodNode,
  type PodSpec,
} from './testing/inpod-cluster.ts';

const keep = process.argv.includes('--keep');
const VIP = { echo: '10.96.0.10', hello: '10.96.0.11' };
const ID = (sa: string): string => `spiffe://cluster.local/ns/demo/sa/${sa}`;

const MESH_EXTRA = `services:
  - { name: echo, namespace: demo, vip: ${VIP.echo}, ports: [{ port: 80, targetPort: 8080 }], selector: { app: echo } }
  - { name: hello, namespace: demo, vip: ${VIP.hello}, ports: [{ port: 80, targetPort: 8080 }], selector: { app: hello } }
policies:
  - apiVersion: ambit.dev/v1alpha1
    kind: AuthorizationPolicy
    metadata: { name: echo-not-from-hello, namespace: demo }
    spec:
      selector: { matchLabels: { app: echo } }
      action: DENY
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/demo/sa/hello"] } }] }]
`;

type LogLine = Record<string, unknown>;

/** An HTTP app listening on :8080 inside the pod's netns. */
async function app(pod: ClusterPod, name: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(`${name}\n`));
  server.listen({
    fd: socketInNetns(pod.netns, { family: 4, listen: { address: '0.0.0.0', port: 8080 } }),
  });
  await once(server, 'listening');
  return server;
}

/**
 * One HTTP/1.1 request from inside `from`'s netns to `host:80` over a plain TCP socket (what any
 * app does: no proxy, no mark). Resolves with the body and the socket, kept open (keep-alive).
 */
async function request(from: ClusterPod, host: string): Promise<{ body: string; socket: Socket }> {
  const s = new Socket({ fd: socketInNetns(from.netns, { family: 4 }) });
  s.connect(80, host);
  return new Promise((resolve, reject) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      text += c;
      const head = text.indexOf('\r\n\r\n');
      const body = head < 0 ? '' : text.slice(head + 4);
      if (body.endsWith('\n')) resolve({ body: body.trim(), socket: s });
    });
    s.once('close', () => reject(new Error(`connection closed; got ${JSON.stringify(text)}`)));
    s.once('error', reject);
    s.write(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  });
}

async function get(from: ClusterPod, host: string): Promise<string> {
  const { body, socket } = await request(from, host);
  socket.destroy();
  return body;
}

export async function runInpodDemo(): Promise<void> {
  const cluster = new InpodCluster();
  const servers: Server[] = [];
  let cleaning: Promise<number> | undefined;
  const cleanup = (): Promise<number> => {
    cleaning ??= (async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      return cluster.close();
    })();
    return cleaning;
  };
  const onSignal = (signal: string): void => {
    console.log(`\n${signal}: removing every network namespace, veth and listener of the demo…`);
    void cleanup().then((n) => {
      console.log(`stopped: ${n} network namespaces removed`);
      process.exit(130);
    });
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  try {
    await cluster.start({ nodes: 2, ambient: ['demo'], plain: [] });
    console.log(`local CA (trust domain cluster.local) and mesh config in ${cluster.dir}`);
    const pod = (
      node: number,
      name: string,
      sa: string,
      labels: Record<string, string>,
    ): PodSpec => ({
      node,
      namespace: 'demo',
      name,
      serviceAccount: sa,
      labels,
    });
    const specs = [
      pod(0, 'sleep', 'sleep', { app: 'sleep' }),
      pod(0, 'hello', 'hello', { app: 'hello' }),
      pod(1, 'echo-1', 'echo', { app: 'echo', version: 'v1' }),
      pod(1, 'echo-2', 'echo', { app: 'echo', version: 'v2' }),
    ];
    await cluster.declarePods(specs);
    const [sleep, hello, echo1, echo2] = (await Promise.all(
      specs.map((s) => cluster.addPod(s)),
    )) as [ClusterPod, ClusterPod, ClusterPod, ClusterPod];
    await cluster.publishMesh(MESH_EXTRA);
    servers.push(await app(echo1, 'echo-1'), await app(echo2, 'echo-2'), await app(hello, 'hello'));
    const [a, b] = cluster.nodes as [InpodNode, InpodNode];
    console.log(
      `ztunnels ready (in-pod mode): node-a (sleep ${sleep.ip}, hello ${hello.ip}), node-b (echo-1 ${echo1.ip}, echo-2 ${echo2.ip}); pods in network namespaces on two bridged nodes joined by a veth, enrolled by ambit-cni`,
    );

    const spread = new Map<string, number>();
    const held: Socket[] = [];
    for (let i = 0; i < 12; i++) {
      const { body, socket } = await request(sleep, VIP.echo);
      spread.set(body, (spread.get(body) ?? 0) + 1);
      held.push(socket);
    }
    for (const socket of held) socket.destroy();
    const helloAnswer = await get(sleep, VIP.hello);
    if (helloAnswer !== 'hello') throw new Error(`sleep → hello answered ${helloAnswer}`);
    const refused = await get(hello, VIP.echo).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    if (refused === undefined) throw new Error('hello → echo was not refused');
    await new Promise((r) => setTimeout(r, 200)); // access-log lines are written at close

    const access = (n: InpodNode): LogLine[] =>
      n.logs.json().filter((l: LogLine) => l.scope === 'access');
    console.log(
      'captured transparently: the apps used plain TCP to IPs, no proxy settings (kernel REDIRECT to ztunnel inside each pod)',
    );
    console.log('');
    console.log("what each server's ztunnel verified (inbound access log, mutual TLS):");
    for (const [n, workload] of [
      [b, 'echo-1'],
      [b, 'echo-2'],
      [a, 'hello'],
    ] as const) {
      const seen = new Map<string, number>();
      for (const l of access(n)) {
        if (l.reporter !== 'destination' || l['dst.workload'] !== workload) continue;
        if (l.response_flags !== '-') continue;
        const key = `${String(l['src.identity'])} over ${String(l.connection_security_policy)}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      const list = [...seen].map(([k, c]) => `${k} (${c}×)`).join(', ') || 'nothing';
      console.log(
        `  ${workload.padEnd(6)} on ${n.name} (itself ${ID(workload === 'hello' ? 'hello' : 'echo')}) saw ${list}`,
      );
    }
    const deny = access(b).find((l) => l.msg === 'connection denied');
    console.log('');
    console.log(
      `denied: hello → echo refused (the app saw: ${refused.message}); node-b: ${typeof deny?.error === 'string' ? deny.error : '?'}`,
    );
    console.log(
      `load: 12 connections held open from sleep to echo.demo (${VIP.echo}:80) → ${[...spread]
        .sort()
        .map(([w, c]) => `${w} ${c}`)
        .join(', ')} (healthy endpoints; the less loaded of two random picks)`,
    );

    const m = b.z.addresses.metrics;
    const metrics = await (await fetch(`http://${m.host}:${m.port}/metrics`)).text();
    console.log('');
    console.log(`metrics excerpt (node-b, http://${m.host}:${m.port}/metrics):`);
    for (const line of closedConnectionsExcerpt(metrics)) console.log(line);

    if (keep) {
      console.log('');
      console.log('left running (Ctrl-C removes everything). Try, as root:');
      console.log(`  ip netns exec ${sleep.netnsName} curl -s http://${VIP.echo}/`);
      console.log(`  ip netns exec ${sleep.netnsName} curl -s http://${echo1.ip}:8080/`);
      console.log(`  ip netns exec ${hello.netnsName} curl -s http://${VIP.echo}/   # denied`);
      console.log(`  curl http://${m.host}:${m.port}/metrics`);
      await new Promise(() => {}); // until a signal
    }
  } finally {
    // Interrupted: the signal handler cleans up and exits; nothing more to say here.
    if (cleaning) await new Promise(() => {});
    else {
      const n = await cleanup();
      console.log('');
      console.log(
        `stopped: ztunnels and node agents closed, apps closed, ${n} network namespaces (and their veths and bridges) removed, ${cluster.dir} removed`,
      );
    }
  }
}
