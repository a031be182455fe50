// The Prometheus scrape endpoint (DESIGN.md: ztunnel :15020). Serves the same text at /metrics
// and at /stats/prometheus, the path Istio's scrape annotations use.

import type { Registry } from '@ambit/core/metrics/registry';
import { listenHttpEndpoint, type HttpEndpoint, type RouteHandler } from './http-endpoint.ts';

export function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  onError?: (err: unknown, path: string) => void;
}): Promise<HttpEndpoint> {
  const scrape: RouteHandler = async () => ({
    status: 200,
    contentType: opts.registry.contentType,
    body: await opts.registry.metrics(),
  });
  return listenHttpEndpoint({
    host: opts.host,
    port: opts.port,
    routes: { '/metrics': scrape, '/stats/prometheus': scrape },
    onError: opts.onError,
  });
}
