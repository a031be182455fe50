import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Route } from '@ambit/core/mesh/route-types';
import type { ServiceKey } from '@ambit/core/mesh/types';
import { APP_NS, startHarness, type Harness } from './testing/harness.ts';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => {
    const v: unknown = JSON.parse(b.toString());
    return v;
  },
};
const service: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  Count: {
    path: '/test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

function frame(v: unknown): Buffer {
  const body = json.serialize(v);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}
function unframe(buf: Buffer): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i + 5 <= buf.length;) {
    const n = buf.readUInt32BE(i + 1);
    out.push(json.deserialize(buf.subarray(i + 5, i + 5 + n)));
    i += 5 + n;
  }
  return out;
}

describe('waypoint protocols', () => {
  let h: Harness;
  let release: () => void = () => {};
  beforeAll(async () => {
    h = await startHarness();
    await h.addPod({
      name: 'grpc',
      async start(ip, port) {
        const server = new grpc.Server();
        server.addService(service, {
          Echo: (
            call: grpc.ServerUnaryCall<{ msg: string }, unknown>,
            cb: grpc.sendUnaryData<unknown>,
          ) => cb(null, { msg: `echo ${call.request.msg}` }),
          Count: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
            for (let i = 0; i < call.request.n; i++) call.write({ i });
            call.end();
          },
        });
        await new Promise<void>((resolve, reject) =>
          server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
            e ? reject(e) : resolve(),
          ),
        );
        return () => new Promise<void>((r) => server.tryShutdown(() => r()));
      },
    });
    await h.addPod({
      name: 'ws',
      async start(ip, port) {
        const server = createHttpServer();
        const wss = new WebSocketServer({ server });
        wss.on('connection', (sock) =>
          sock.on('message', (m: Buffer) => sock.send(`ws:${m.toString()}`)),
        );
        server.listen(port, ip);
        await once(server, 'listening');
        return async () => {
          for (const c of wss.clients) c.terminate();
          wss.close();
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
        };
      },
    });
    await h.addPod({
      name: 'v1',
      handler: (req, res) => {
        if (req.url === '/hold') {
          res.write('first half;');
          release = () => res.end('second half');
          return;
        }
        res.end('v1');
      },
    });
    await h.addPod({ name: 'v2', handler: (_req, res) => res.end('v2') });
    h.setMesh({ grpc: ['grpc'], ws: ['ws'], web: ['v1'], 'web-v2': ['v2'] });
  });
  afterAll(async () => h.close());

  it('gRPC unary and server-streaming calls work through the waypoint', async () => {
    const s = await h.http2('grpc');
    const call = async (path: string, msg: unknown) => {
      const req = s.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      req.end(frame(msg));
      const chunks: Buffer[] = [];
      let trailers: Record<string, unknown> = {};
      req.on('trailers', (t: Record<string, unknown>) => {
        trailers = t;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      await once(req, 'end');
      return { messages: unframe(Buffer.concat(chunks)), status: trailers['grpc-status'] };
    };
    const unary = await call('/test.Echo/Echo', { msg: 'hi' });
    expect(unary).toEqual({ messages: [{ msg: 'echo hi' }], status: '0' });
    const stream = await call('/test.Echo/Count', { n: 5 });
    expect(stream.status).toBe('0');
    expect(stream.messages).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
  });

  it('a WebSocket works through the waypoint', async () => {
    const tunnel = await h.tunnel(`${h.vip('ws')}:80`);
    const ws = new WebSocket('ws://ws.app/', { createConnection: () => tunnel as never });
    await once(ws, 'open');
    ws.send('hello');
    const [msg] = (await once(ws, 'message')) as [Buffer];
    expect(msg.toString()).toBe('ws:hello');
    ws.close();
    await once(ws, 'close');
  });

  it('malformed HTTP gets 400 and does not disturb other streams', async () => {
    const good = h.http1('web');
    const first = await good.request({ path: '/', method: 'GET' });
    expect(await first.body.text()).toBe('v1');
    const bad = await h.tunnel(`${h.vip('web')}:80`);
    bad.end('GET /x HTTP/1.1\r\nhost: web\r\nbad header line\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const c of bad) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 400/);
    const again = await good.request({ path: '/', method: 'GET' });
    expect(await again.body.text()).toBe('v1');
  });

  it('a route change applies to new requests without dropping in-flight ones', async () => {
    const c = h.http1('web', { connections: 4 });
    const held = await c.request({ path: '/hold', method: 'GET' });
    const heldBody = held.body.text();
    h.setMesh({ grpc: ['grpc'], ws: ['ws'], web: ['v1'], 'web-v2': ['v2'] }, [
      {
        name: 'to-v2',
        namespace: APP_NS,
        createdAt: '2024-01-01T00:00:00Z',
        parents: [{ service: `${APP_NS}/web` as ServiceKey }],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            filters: [],
            backends: [
              {
                kind: 'service',
                service: `${APP_NS}/web-v2` as ServiceKey,
                hostname: 'web-v2.app.svc.cluster.local',
                port: 80,
                weight: 1,
              },
            ],
          },
        ],
      } satisfies Route,
    ]);
    const fresh = await c.request({ path: '/', method: 'GET' });
    expect(await fresh.body.text()).toBe('v2');
    release();
    expect(await heldBody).toBe('first half;second half');
  });
});
