// The waypoint binary: config → own identity (files, or the controller's CA) → config source →
// HBONE on 15008, metrics on 15020, readiness on 15021 (200 once a config is loaded; 503 while
// draining). SIGTERM stops accepting, lets live connections finish (--drain-ms), exits 0.

import { createServer } from 'node:http';
import { MeshError } from '@ambit/core/errors';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import { createLogger } from '@ambit/core/log';
import { createMetricsRegistry } from '@ambit/core/metrics/registry';
import { loadConfig, USAGE } from './config.ts';
import { loadOwnIdentity } from './own-identity.ts';
import { startConfigSource } from './state/start-config-source.ts';
import { WaypointState } from './state/waypoint-state.ts';
import { Waypoint } from './waypoint.ts';

function listen(server: ReturnType<typeof createServer>, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : port);
    });
  });
}

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const log = createLogger({
    level: config.logLevel,
    fields: {
      component: 'waypoint',
      waypoint: `${config.namespace}/${config.name}`,
      ...(config.podName !== undefined && { pod: config.podName }),
      ...(config.nodeName !== undefined && { node: config.nodeName }),
    },
  });
  // Renewals before the Waypoint exists are picked up when it is made (`latest`).
  let latest: TlsIdentity | undefined;
  let rotate = (identity: TlsIdentity): void => void (latest = identity);
  const own = await loadOwnIdentity({
    origin: config.identity,
    ...(config.controllerServerId && { controllerServerId: config.controllerServerId }),
    onRotate: (identity) => {
      rotate(identity);
      log.info('certificate renewed', { notAfter: identity.notAfter.toISOString() });
    },
    onError: (err, retryInMs) => log.warn('certificate request failed', { error: err, retryInMs }),
  });
  const state = new WaypointState();
  const source = await startConfigSource({
    origin: config.origin,
    name: config.name,
    state,
    onError: (err) => log.warn('config refused; keeping the last good one', { error: err }),
  });
  const registry = createMetricsRegistry({ processMetrics: true });
  const waypoint = new Waypoint({
    identity: latest ?? own.identity,
    trustDomain: config.trustDomain,
    self: { name: config.name, namespace: config.namespace },
    state,
    registry,
    logger: log,
    host: config.hbone.host,
    port: config.hbone.port,
    endpointHbonePort: config.endpointHbonePort,
  });
  rotate = (identity) => waypoint.updateIdentity(identity);
  const addr = await waypoint.listen();
  let draining = false;
  const metrics = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  const ready = createServer((_req, res) => {
    const ok = !draining && state.current().generation > 0;
    res.writeHead(ok ? 200 : 503).end(ok ? 'ready\n' : 'not ready\n');
  });
  const metricsPort = await listen(metrics, config.metricsPort);
  const readinessPort = await listen(ready, config.readinessPort);
  log.info('waypoint listening', { hbone: addr, metricsPort, readinessPort });
  process.once('SIGTERM', () => {
    draining = true;
    log.info('SIGTERM: draining', { graceMs: config.drainMs });
    void (async () => {
      await waypoint.close({ graceMs: config.drainMs });
      await source.close();
      own.close();
      metrics.close();
      ready.close();
      log.info('drained; exiting');
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  const code = err instanceof MeshError ? ` (${err.code})` : '';
  process.stderr.write(
    `waypoint: ${(err as Error).message}${code}\n${err instanceof MeshError ? '' : USAGE + '\n'}`,
  );
  process.exit(1);
});
