// The controller's :15014: GET /metrics (Prometheus text), /healthz and /healthz/ready (200 when
// ready, else 503 with the reason), /healthz/live (200 while the process runs).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from '@ambit/core/metrics/registry';

export interface MonitoringServerOptions {
  registry: Registry;
  readiness(): { ready: boolean; reason?: string };
  host?: string;
  port?: number;
}

export interface MonitoringServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function startMonitoringServer(o: MonitoringServerOptions): Promise<MonitoringServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    if (path === '/healthz' || path === '/healthz/ready') {
      const r = o.readiness();
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(r.ready ? 'ok\n' : `not ready: ${r.reason ?? ''}\n`);
      return;
    }
    if (path === '/healthz/live') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      .end('GET /metrics, /healthz, /healthz/ready or /healthz/live\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 15014, o.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.address,
    port: a.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
