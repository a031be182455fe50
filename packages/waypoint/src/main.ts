// The waypoint binary: config → identity → config source → HBONE on 15008, metrics on 15020,
// readiness on 15021 (200 once a config is loaded; 503 while draining). SIGTERM drains.

import { createServer } from 'node:http';
import { MeshError } from '@ambit/core/errors';
import { readIdentityFiles } from '@ambit/core/hbone/identity-files';
import { createLogger } from '@ambit/core/log';
import { createMetricsRegistry } from '@ambit/core/metrics/registry';
import { loadConfig, USAGE } from './config.ts';
import { startConfigSource } from './state/start-config-source.ts';
import { WaypointState } from './state/waypoint-state.ts';
import { Waypoint } from './waypoint.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const log = createLogger({
    level: config.logLevel,
    fields: { component: 'waypoint', waypoint: `${config.namespace}/${config.name}` },
  });
  const identity = await readIdentityFiles(config.identityDir, config.identityName);
  const state = new WaypointState();
  const source = await startConfigSource({
    origin: config.origin,
    name: config.name,
    state,
    onError: (err) => log.warn('config refused; keeping the last good one', { error: err }),
  });
  const registry = createMetricsRegistry({ processMetrics: true });
  const waypoint = new Waypoint({
    identity,
    self: { name: config.name, namespace: config.namespace },
    state,
    registry,
    logger: log,
    host: config.hbone.host,
    port: config.hbone.port,
  });
  const addr = await waypoint.listen();
  let draining = false;
  const metrics = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  }).listen(config.metricsPort);
  const ready = createServer((_req, res) => {
    const ok = !draining && state.current().generation > 0;
    res.writeHead(ok ? 200 : 503).end(ok ? 'ready\n' : 'not ready\n');
  }).listen(config.readinessPort);
  log.info('waypoint listening', {
    hbone: addr,
    metricsPort: config.metricsPort,
    readinessPort: config.readinessPort,
  });
  process.once('SIGTERM', () => {
    draining = true;
    void (async () => {
      await waypoint.close({ graceMs: 10_000 });
      await source.close();
      metrics.close();
      ready.close();
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
