// The HBONE tunnel pair under test: build/hbone-pair.mjs (the bundle of
// packages/core/src/bin/hbone-pair.ts that bench/hbone.sh builds) run twice, as `server`
// (HBONE in, dials the :authority target) and `client` (plain TCP in, HBONE out), with Node 24.
import { freePort, printsLine, type ProcessGroup } from './processes.ts';
import type { TunnelPair } from './tunnel-pair.ts';

export async function startHbonePair(o: {
  group: ProcessGroup;
  name: string;
  node: string;
  script: string;
  certsDir: string;
  backendPort: number;
}): Promise<TunnelPair> {
  const serverPort = await freePort();
  const clientPort = await freePort();
  const server = await o.group.start(
    `${o.name}-server`,
    o.node,
    [o.script, 'server', '--listen', `127.0.0.1:${serverPort}`, '--certs', o.certsDir],
    printsLine('ready'),
  );
  const client = await o.group.start(
    `${o.name}-client`,
    o.node,
    [
      o.script,
      'client',
      '--listen',
      `127.0.0.1:${clientPort}`,
      '--server',
      `127.0.0.1:${serverPort}`,
      '--target',
      `127.0.0.1:${o.backendPort}`,
      '--certs',
      o.certsDir,
    ],
    printsLine('ready'),
  );
  return { port: clientPort, pids: { client: client.pid, server: server.pid } };
}
