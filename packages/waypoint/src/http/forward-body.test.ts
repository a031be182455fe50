// forward(): a response body to a real HTTP/1.1 client over a real socket — complete bodies arrive
// whole; an upstream that breaks mid-body resets the client's connection (never a clean but
// truncated response); a client that leaves destroys the upstream body.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { forward } from './forward-body.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

async function serve(body: PassThrough): Promise<number> {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    forward(body, res);
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ text }));
      res.on('error', (e) => resolve({ text, error: e.message }));
    });
    req.on('error', (e) => resolve({ text: '', error: e.message }));
    req.end();
  });
}

describe('forward', () => {
  it('delivers a complete body', async () => {
    const body = new PassThrough();
    const port = await serve(body);
    const got = get(port);
    body.write('hello ');
    body.end('world');
    expect(await got).toEqual({ text: 'hello world' });
  });

  it('resets the client when the upstream body breaks mid-way', async () => {
    const body = new PassThrough();
    const port = await serve(body);
    const got = get(port);
    body.write('partial');
    setTimeout(() => body.destroy(new Error('upstream reset')), 50);
    const r = await got;
    expect(r.error).toBeDefined();
  });

  it('destroys the upstream body when the client goes away', async () => {
    const body = new PassThrough();
    const port = await serve(body);
    const closed = new Promise<void>((r) => body.once('close', r));
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    req.end();
    body.write('first');
    await closed;
    expect(body.destroyed).toBe(true);
  });
});
