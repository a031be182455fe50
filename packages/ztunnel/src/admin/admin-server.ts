// The admin API (DESIGN.md: ztunnel :15000, localhost only): GET /config_dump. It shows
// workload metadata and identities, so it must not listen beyond 127.0.0.1 in production.

import { buildConfigDump, type ConfigDumpProviders } from './config-dump.ts';
import { jsonReply, listenHttpEndpoint, type HttpEndpoint } from './http-endpoint.ts';

export function startAdminServer(opts: {
  host: string;
  port: number;
  configDump: ConfigDumpProviders;
  onError?: (err: unknown, path: string) => void;
}): Promise<HttpEndpoint> {
  return listenHttpEndpoint({
    host: opts.host,
    port: opts.port,
    routes: {
      '/config_dump': () => jsonReply(200, buildConfigDump(opts.configDump)),
      '/': () => jsonReply(200, { endpoints: ['/config_dump'] }),
    },
    onError: opts.onError,
  });
}
