// TunnelAgent over real tunnels: HTTP/2 CONNECT streams (h2c, as an HBONE server without TLS)
// to a real HTTP/1.1 app. Keep-alive reuses one tunnel; idle tunnels are closed; piped request
// bodies arrive intact. (The string-writev corruption asSocket works around shows up reliably in
// waypoint.test.ts's retry test, which replays a body over a fresh tunnel; here it depends on
// what reuses the freed memory.)
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import {
  connect as h2connect,
  createServer as createH2Server,
  type ClientHttp2Session,
  type Http2Server,
} from 'node:http2';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TunnelAgent } from './tunnel-agent.ts';

let app: Server;
let tunnels: Http2Server;
let session: ClientHttp2Session;
/** Per test: late events of the previous test's tunnels land in its own object. */
let counts = { opened: 0, closed: 0, ended: 0, resets: 0 };
let seen: string[] = [];
/** The tunnel server keeps its half open after the client's END_STREAM (a slow far side). */
let holdOpen = false;
/** The app closes each connection this long after a response (an app-side idle timeout). */
let closeAfterMs = 0;

beforeEach(async () => {
  holdOpen = false;
  closeAfterMs = 0;
  const mine = { opened: 0, closed: 0, ended: 0, resets: 0 };
  counts = mine;
  const seenHere: string[] = [];
  seen = seenHere;
  app = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seenHere.push(`${req.method} ${req.url} ${body}`);
      res.end(`got ${body.length}`);
      if (closeAfterMs > 0) setTimeout(() => req.socket.end(), closeAfterMs);
    });
  });
  app.on('clientError', (err: Error) => seenHere.push(`clientError ${err.message}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  tunnels = createH2Server();
  tunnels.on('stream', (stream) => {
    const s = netConnect(appPort, '127.0.0.1', () => {
      stream.respond({ ':status': 200 });
      stream.pipe(s, { end: !holdOpen });
      s.pipe(stream);
    });
    s.on('error', () => stream.destroy());
    stream.on('error', () => s.destroy());
    // 'end': the client sent END_STREAM; 'aborted': it reset the stream while this side could
    // still write (Node may emit 'end' after a NO_ERROR reset too: 'aborted' is what ztunnel's
    // pipe treats as a reset, packages/core/src/hbone/pipe.ts).
    stream.once('end', () => (mine.ended += 1));
    stream.once('aborted', () => (mine.resets += 1));
    stream.once('close', () => (mine.closed += 1));
  });
  await new Promise<void>((r) => tunnels.listen(0, '127.0.0.1', r));
  session = h2connect(`http://127.0.0.1:${(tunnels.address() as AddressInfo).port}`);
});

afterEach(async () => {
  session.destroy();
  tunnels.close();
  app.closeAllConnections();
  await new Promise((r) => app.close(r));
});

const openTunnel = (): Promise<Duplex> =>
  new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'CONNECT', ':authority': 'app:80' });
    st.once('response', () => {
      counts.opened += 1;
      resolve(st);
    });
    st.once('error', reject);
  });

function post(agent: TunnelAgent, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, method: 'POST', path, headers: { host: 'app', 'content-length': body.length } },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    // Piped, as the waypoint sends bodies: node:http then corks its head (a string) with the
    // first body chunk into one writev.
    Readable.from([Buffer.from(body)]).pipe(req);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('TunnelAgent', () => {
  it('drops a free tunnel the app closed while idle instead of sending the next request into it', async () => {
    closeAfterMs = 200;
    const agent = new TunnelAgent(openTunnel, { idleMs: 60_000 });
    expect(await post(agent, '/a', 'x')).toBe('got 1');
    const deadline = Date.now() + 5000;
    while (counts.closed < 1 && Date.now() < deadline) await sleep(20);
    // The app's FIN arrived as END_STREAM; the agent closed its half: a clean close, no reset.
    expect(counts.closed).toBe(1);
    expect(counts.resets).toBe(0);
    expect(await post(agent, '/b', 'y')).toBe('got 1');
    expect(counts.opened).toBe(2);
    expect(seen).toEqual(['POST /a x', 'POST /b y']);
    agent.destroy();
  });

  it('does not keep a tunnel past the keep-alive timeout the app announced (less a margin)', async () => {
    app.keepAliveTimeout = 1000; // Keep-Alive: timeout=1 → nothing left after the 1 s margin
    const agent = new TunnelAgent(openTunnel, { idleMs: 60_000 });
    expect(await post(agent, '/a', 'x')).toBe('got 1');
    expect(await post(agent, '/b', 'y')).toBe('got 1');
    expect(counts.opened).toBe(2);
    agent.destroy();
  });

  it('never hands a request the tunnel it is closing, while the far side has not finished', async () => {
    holdOpen = true;
    const agent = new TunnelAgent(openTunnel, { idleMs: 200 });
    expect(await post(agent, '/a', 'x')).toBe('got 1');
    const deadline = Date.now() + 5000;
    while (counts.ended < 1 && Date.now() < deadline) await sleep(20);
    expect(counts.ended).toBe(1); // END_STREAM sent…
    expect(counts.closed).toBe(0); // …and the tunnel still open: the far side holds its half
    expect(await post(agent, '/b', 'y')).toBe('got 1');
    expect(counts.opened).toBe(2);
    agent.destroy();
  });

  it('sends requests intact and reuses one tunnel for sequential requests', async () => {
    const agent = new TunnelAgent(openTunnel, { idleMs: 60_000 });
    for (let i = 0; i < 20; i++)
      expect(await post(agent, `/r${i}`, `payload ${i}`)).toBe(`got ${`payload ${i}`.length}`);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `POST /r${i} payload ${i}`));
    expect(counts.opened).toBe(1);
    agent.destroy();
  });

  it('closes tunnels that stayed idle for idleMs, cleanly (END_STREAM, not a reset)', async () => {
    const agent = new TunnelAgent(openTunnel, { idleMs: 200 });
    await Promise.all([post(agent, '/a', 'x'), post(agent, '/b', 'y')]);
    expect(counts.opened).toBe(2);
    const deadline = Date.now() + 5000;
    while (counts.closed < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(counts.closed).toBe(2);
    // Closed with END_STREAM (the app gets a FIN), not reset: ztunnel would log a reset.
    expect(counts.ended).toBe(2);
    expect(counts.resets).toBe(0);
    // A later request opens a new tunnel.
    expect(await post(agent, '/c', 'z')).toBe('got 1');
    expect(counts.opened).toBe(3);
    agent.destroy();
  });
});
