// The reference mTLS TCP tunnel: two haproxy processes in tcp mode, in the same topology as the
// HBONE pair. Client side: plain TCP in → TLS 1.3 out with a client certificate, verifying the
// server's chain. Server side: TLS 1.3 in, client certificate required and verified → plain TCP to
// the backend. nbthread 1 in each, as a Node proxy process runs its data path on one thread.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HaproxyPems } from './certs.ts';
import { acceptsOn, freePort, type ProcessGroup } from './processes.ts';
import type { TunnelPair } from './tunnel-pair.ts';

const COMMON = `global
  nbthread 1
  maxconn 4000
  log stderr format short local0 err
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 120s
  timeout server 120s
`;

export function haproxyClientConfig(o: {
  listen: number;
  server: number;
  pems: HaproxyPems;
}): string {
  return `${COMMON}
frontend plain_in
  bind 127.0.0.1:${o.listen}
  default_backend tls_out

backend tls_out
  server peer 127.0.0.1:${o.server} ssl verify required ca-file ${o.pems.ca} crt ${o.pems.client}
`;
}

export function haproxyServerConfig(o: {
  listen: number;
  backend: number;
  /** The backend's address (default 127.0.0.1). */
  backendHost?: string;
  pems: HaproxyPems;
}): string {
  return `${COMMON}
frontend tls_in
  bind 127.0.0.1:${o.listen} ssl crt ${o.pems.server} ca-file ${o.pems.ca} verify required
  default_backend app

backend app
  server app ${o.backendHost ?? '127.0.0.1'}:${o.backend}
`;
}

export async function startHaproxyPair(o: {
  group: ProcessGroup;
  name: string;
  dir: string;
  pems: HaproxyPems;
  backendPort: number;
  /** Default 127.0.0.1. */
  backendHost?: string;
}): Promise<TunnelPair> {
  const serverPort = await freePort();
  const clientPort = await freePort();
  const serverCfg = join(o.dir, `${o.name}-server.cfg`);
  const clientCfg = join(o.dir, `${o.name}-client.cfg`);
  writeFileSync(
    serverCfg,
    haproxyServerConfig({
      listen: serverPort,
      backend: o.backendPort,
      ...(o.backendHost !== undefined && { backendHost: o.backendHost }),
      pems: o.pems,
    }),
  );
  writeFileSync(
    clientCfg,
    haproxyClientConfig({ listen: clientPort, server: serverPort, pems: o.pems }),
  );
  // -db: stay in the foreground, one process (no master-worker), so the PID is the proxy itself.
  const server = await o.group.start(
    `${o.name}-server`,
    'haproxy',
    ['-db', '-f', serverCfg],
    acceptsOn(serverPort),
  );
  const client = await o.group.start(
    `${o.name}-client`,
    'haproxy',
    ['-db', '-f', clientCfg],
    acceptsOn(clientPort),
  );
  return { port: clientPort, pids: { client: client.pid, server: server.pid } };
}
