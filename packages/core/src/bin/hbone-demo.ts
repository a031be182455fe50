// `make demo`: one HBONE tunnel on loopback, end to end, with everything each side verified.
// A local CA (the real CA code) issues three identities; an echo backend sits behind an HBONE
// server whose authorization admits only demo/client; a pooled client sends a message through, then
// an identity the server does not admit is refused with 401.
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { createDevCa } from '../hbone/dev-identities.ts';
import { dialTcp } from '../hbone/dial-tcp.ts';
import { HbonePool, tunnelInfo } from '../hbone/pool.ts';
import { HboneServer, type HboneRequestContext } from '../hbone/server.ts';
import { MeshError } from '../errors.ts';

function readAll(s: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.once('end', () => resolve(text));
    s.once('error', reject);
  });
}

async function main(): Promise<void> {
  const ca = await createDevCa('cluster.local');
  const [client, server, intruder] = await Promise.all([
    ca.issue('demo', 'client'),
    ca.issue('demo', 'server'),
    ca.issue('demo', 'intruder'),
  ]);
  console.log(
    `local CA for trust domain ${ca.trustDomain}: issued ${client.id}, ${server.id}, ${intruder.id}`,
  );

  const echo: Server = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as { port: number }).port;

  let lastSeen: HboneRequestContext | undefined;
  const hbone = new HboneServer({
    identity: server,
    trustDomain: ca.trustDomain,
    authorize: (ctx) => {
      lastSeen = ctx;
      return Promise.resolve(
        ctx.peerId === client.id ? true : { deny: `${ctx.peerId} is not demo/client` },
      );
    },
    dial: (ctx, signal) => dialTcp(ctx.target, signal),
  });
  const { port } = await hbone.listen();
  const pool = new HbonePool();
  const req = {
    address: { host: '127.0.0.1', port },
    authority: `127.0.0.1:${echoPort}`,
    expectedPeers: [server.id],
    headers: { forwarded: 'for="127.0.0.1"' },
  };

  const tunnel = await pool.connect({ ...req, source: client });
  const info = tunnelInfo(tunnel);
  tunnel.end('hello through HBONE');
  const echoed = await readAll(tunnel);
  console.log(`client saw server SAN   ${info?.peerId ?? '?'} (expected ${server.id})`);
  console.log(
    `server saw client SAN   ${lastSeen?.peerId ?? '?'} → authorized, dialed ${lastSeen?.authority ?? '?'}`,
  );
  console.log(
    `TLS ${info?.tlsVersion ?? '?'}, ALPN ${info?.alpn ?? '?'}, one CONNECT stream on a pooled HTTP/2 session`,
  );
  console.log(`echoed bytes            ${JSON.stringify(echoed)}`);

  const refused = await pool.connect({ ...req, source: intruder }).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(refused instanceof MeshError) || refused.code !== 'AMBIT_HBONE_DENIED') {
    throw new Error(`expected a 401 refusal for ${intruder.id}, got ${String(refused)}`);
  }
  console.log(`refused                 ${intruder.id} → 401 (${refused.code}: ${refused.message})`);

  await pool.close({ graceMs: 0 });
  await hbone.close({ graceMs: 0 });
  await new Promise((r) => echo.close(r));
  if (echoed !== 'hello through HBONE') throw new Error('echo mismatch');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`hbone-demo failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
