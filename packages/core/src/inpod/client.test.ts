import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MeshError } from '../errors.ts';
import { InpodClient } from './client.ts';
import type { InpodPod } from './protocol.ts';
import { InpodServer } from './server.ts';

const pod = (uid: string): InpodPod => ({
  uid,
  name: `p-${uid}`,
  namespace: 'shop',
  serviceAccount: 'web',
  netns: `/var/run/netns/${uid}`,
  ips: ['10.22.0.9'],
});

/** A real InpodServer that records what it is told and holds the resulting set, like ztunnel. */
function recordingServer(socketPath: string, refuse?: (uid: string) => string | undefined) {
  const held = new Map<string, InpodPod>();
  const log: string[] = [];
  const errors: Error[] = [];
  const server = new InpodServer({
    socketPath,
    onError: (e) => errors.push(e),
    handlers: {
      snapshot(pods) {
        log.push(`snapshot:${pods.map((p) => p.uid).join(',')}`);
        held.clear();
        for (const p of pods) held.set(p.uid, p);
      },
      add(p) {
        const why = refuse?.(p.uid);
        if (why !== undefined) throw new Error(why);
        log.push(`add:${p.uid}`);
        held.set(p.uid, p);
      },
      del(uid) {
        log.push(`del:${uid}`);
        held.delete(uid);
      },
    },
  });
  return { server, held, log, errors };
}

function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > until) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

describe('in-pod client and server over a unix socket', () => {
  let dir: string;
  let sock: string;
  const cleanups: (() => unknown)[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-inpod-'));
    sock = join(dir, 'ztunnel.sock');
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  function client(set: Map<string, InpodPod>, ackTimeoutMs = 2000): InpodClient {
    const c = new InpodClient({
      socketPath: sock,
      node: 'node-a',
      snapshot: () => [...set.values()],
      ackTimeoutMs,
      reconnectDelayMs: { min: 20, max: 100 },
    });
    cleanups.push(() => c.close());
    return c;
  }

  it('syncs with a snapshot, then adds and deletes with acks', async () => {
    const z = recordingServer(sock);
    await z.server.listen();
    cleanups.push(() => z.server.close());
    const agentSet = new Map([['a', pod('a')]]);
    const c = client(agentSet);
    c.start();
    await c.add(pod('b'));
    await c.del('a');
    expect(z.log).toEqual(['snapshot:a', 'add:b', 'del:a']);
    expect([...z.held.keys()]).toEqual(['b']);
    expect(c.synced).toBe(true);
  });

  it('rejects with the NACK reason when ztunnel refuses a pod', async () => {
    const z = recordingServer(sock, (uid) => (uid === 'bad' ? 'netns not found' : undefined));
    await z.server.listen();
    cleanups.push(() => z.server.close());
    const c = client(new Map());
    c.start();
    await expect(c.add(pod('bad'))).rejects.toMatchObject({
      code: 'AMBIT_INPOD_REFUSED',
      message: expect.stringContaining('netns not found') as unknown,
    });
    await c.add(pod('good'));
    expect([...z.held.keys()]).toEqual(['good']);
  });

  it('fails add with AMBIT_INPOD_UNAVAILABLE when no ztunnel listens', async () => {
    const c = client(new Map(), 200);
    c.start();
    await expect(c.add(pod('a'))).rejects.toMatchObject({ code: 'AMBIT_INPOD_UNAVAILABLE' });
  });

  it('fails add with AMBIT_INPOD_UNAVAILABLE when ztunnel never answers', async () => {
    // A peer that accepts and reads but never answers: the handshake itself times out.
    const silent: Server = createServer((s: Socket) => s.resume());
    await new Promise<void>((r) => silent.listen(sock, r));
    const conns: Socket[] = [];
    silent.on('connection', (s: Socket) => conns.push(s));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const s of conns) s.destroy();
          silent.close(() => r());
        }),
    );
    const errors: MeshError[] = [];
    const c = new InpodClient({
      socketPath: sock,
      node: 'n',
      snapshot: () => [],
      ackTimeoutMs: 200,
      onError: (e) => errors.push(e),
    });
    cleanups.push(() => c.close());
    c.start();
    await expect(c.add(pod('a'))).rejects.toMatchObject({ code: 'AMBIT_INPOD_UNAVAILABLE' });
    expect(c.synced).toBe(false);
  });

  it('re-sends the full set after ztunnel restarts, so ztunnel drops only what is gone', async () => {
    let z = recordingServer(sock);
    await z.server.listen();
    const agentSet = new Map<string, InpodPod>();
    const c = client(agentSet);
    c.start();
    for (const uid of ['a', 'b', 'c']) {
      await c.add(pod(uid));
      agentSet.set(uid, pod(uid));
    }
    await z.server.close();
    agentSet.delete('b'); // released while ztunnel was away
    await waitFor(() => !c.synced);
    z = recordingServer(sock);
    await z.server.listen();
    cleanups.push(() => z.server.close());
    await waitFor(() => c.synced);
    expect(z.log).toEqual(['snapshot:a,c']);
    await c.add(pod('d'));
    expect([...z.held.keys()].sort()).toEqual(['a', 'c', 'd']);
  });

  it('a new agent connection replaces the old one and starts with a snapshot', async () => {
    const z = recordingServer(sock);
    await z.server.listen();
    cleanups.push(() => z.server.close());
    const c1 = client(new Map([['a', pod('a')]]));
    c1.start();
    await waitFor(() => c1.synced);
    await c1.close();
    const c2 = client(new Map([['x', pod('x')]]));
    c2.start();
    await waitFor(() => c2.synced);
    expect(z.log).toEqual(['snapshot:a', 'snapshot:x']);
    expect([...z.held.keys()]).toEqual(['x']);
  });

  it('the server NACKs bad lines, messages before hello, and unsupported versions', async () => {
    const z = recordingServer(sock);
    await z.server.listen();
    cleanups.push(() => z.server.close());
    const { createConnection } = await import('node:net');
    const s = createConnection(sock);
    cleanups.push(() => s.destroy());
    const lines: string[] = [];
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    s.write('not json\n');
    s.write('{"type":"del","id":5,"uid":"a"}\n');
    s.write('{"type":"hello","id":6,"version":1,"node":"n"}\n');
    s.write('{"type":"add","id":7,"pod":' + JSON.stringify(pod('a')) + '}\n');
    s.write('{"type":"hello","id":8,"version":99,"node":"n"}\n');
    await waitFor(() => lines.length >= 5);
    const replies = lines.map(
      (l) => JSON.parse(l) as { type: string; id: number; reason?: string },
    );
    expect(replies.map((r) => `${r.type}:${r.id}`)).toEqual([
      'nack:0',
      'nack:5',
      'ack:6',
      'nack:7',
      'nack:8',
    ]);
    expect(replies[0]!.reason).toMatch(/not valid JSON/);
    expect(replies[1]!.reason).toMatch(/del before hello/);
    expect(replies[3]!.reason).toMatch(/add before the first snapshot/);
    expect(replies[4]!.reason).toMatch(/unsupported in-pod protocol version 99/);
    expect(z.log).toEqual([]);
  });
});
