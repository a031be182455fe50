// A minimal HBONE tunnel pair for benchmarks (compared against haproxy/nginx mTLS proxies):
//   node hbone-pair.ts certs  --out DIR
//   node hbone-pair.ts server --listen 127.0.0.1:15008 --certs DIR
//   node hbone-pair.ts client --listen 127.0.0.1:15001 --server 127.0.0.1:15008 --target 127.0.0.1:8080 --certs DIR
// The client takes plain TCP and tunnels each connection as one HBONE CONNECT stream (pooled
// sessions); the server terminates HBONE and dials the :authority. Prints "ready" once listening.
// No per-byte work in JS beyond Node's own stream plumbing: Nagle off, 4 MiB/16 MiB windows.
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { dialTcp } from '../hbone/dial-tcp.ts';
import { pipeBidirectional, resetDuplex } from '../hbone/pipe.ts';
import { HbonePool } from '../hbone/pool.ts';
import { readIdentityFiles, writeIdentityFiles } from '../hbone/identity-files.ts';
import { HboneServer } from '../hbone/server.ts';
import { parseSpiffeId } from '../identity/spiffe-id.ts';

function hostPort(flag: string, v: string | undefined): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(v ?? '');
  if (!m?.[1] || !m[2]) throw new Error(`--${flag} must be HOST:PORT, got ${String(v)}`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

function need(flag: string, v: string | undefined): string {
  if (!v) throw new Error(`--${flag} is required`);
  return v;
}

async function certs(out: string): Promise<void> {
  // Only this role issues certificates: the CA code (@peculiar/x509) stays out of the proxies.
  const { createDevCa } = await import('../hbone/dev-identities.ts');
  const ca = await createDevCa('cluster.local');
  await writeIdentityFiles(out, 'client', await ca.issue('bench', 'client'));
  await writeIdentityFiles(out, 'server', await ca.issue('bench', 'server'));
  console.log(`wrote root-cert.pem, client-*.pem, server-*.pem to ${out}`);
}

async function server(
  listen: { host: string; port: number },
  dir: string,
): Promise<() => Promise<void>> {
  const identity = await readIdentityFiles(dir, 'server');
  const srv = new HboneServer({
    identity,
    trustDomain: parseSpiffeId(identity.id).trustDomain,
    host: listen.host,
    port: listen.port,
    authorize: () => Promise.resolve(true),
    dial: (ctx, signal) => dialTcp(ctx.target, signal),
  });
  await srv.listen();
  return () => srv.close({ graceMs: 1_000 });
}

async function client(
  listen: { host: string; port: number },
  serverAddr: { host: string; port: number },
  target: string,
  dir: string,
): Promise<() => Promise<void>> {
  const [source, serverId] = await Promise.all([
    readIdentityFiles(dir, 'client'),
    readIdentityFiles(dir, 'server').then((s) => s.id),
  ]);
  const pool = new HbonePool();
  const expectedPeers = [serverId];
  const onConnection = (socket: Socket): void => {
    socket.on('error', () => {});
    pool.connect({ address: serverAddr, authority: target, source, expectedPeers }).then(
      (stream) => void pipeBidirectional(socket, stream),
      (err: unknown) => {
        console.error(`hbone-pair: ${(err as Error).message}`);
        resetDuplex(socket);
      },
    );
  };
  const srv = createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(listen.port, listen.host, resolve);
  });
  return async () => {
    srv.close();
    await pool.close({ graceMs: 1_000 });
  };
}

async function main(): Promise<void> {
  const [role, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      listen: { type: 'string' },
      server: { type: 'string' },
      target: { type: 'string' },
      certs: { type: 'string' },
      out: { type: 'string' },
    },
  });
  let stop: () => Promise<void>;
  switch (role ?? '') {
    case 'certs':
      await certs(need('out', values.out));
      return;
    case 'server':
      stop = await server(hostPort('listen', values.listen), need('certs', values.certs));
      break;
    case 'client':
      hostPort('target', values.target);
      stop = await client(
        hostPort('listen', values.listen),
        hostPort('server', values.server),
        need('target', values.target),
        need('certs', values.certs),
      );
      break;
    default:
      throw new Error('usage: hbone-pair.ts certs|server|client [flags] (see the file header)');
  }
  console.log('ready');
  const shutdown = (): void => {
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(`hbone-pair: ${(err as Error).message}`);
  process.exit(2);
});
