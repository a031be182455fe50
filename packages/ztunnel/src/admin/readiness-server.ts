// The readiness probe (DESIGN.md: ztunnel :15021): GET /healthz/ready answers 200 only once
// ztunnel can proxy (config received, certificates available), else 503 with the reasons.

import { jsonReply, listenHttpEndpoint, textReply, type HttpEndpoint } from './http-endpoint.ts';

export type Readiness = { ready: true } | { ready: false; reasons: readonly string[] };

export function startReadinessServer(opts: {
  host: string;
  port: number;
  readiness: () => Readiness;
}): Promise<HttpEndpoint> {
  return listenHttpEndpoint({
    host: opts.host,
    port: opts.port,
    routes: {
      '/healthz/ready': () => {
        const r = opts.readiness();
        return r.ready
          ? textReply(200, 'ready\n')
          : jsonReply(503, { ready: false, reasons: r.reasons });
      },
    },
  });
}

/** ztunnel's readiness: it has a config (from the controller or a local file) and its certificates. */
export function ztunnelReadiness(checks: {
  configReceived: () => boolean;
  certificatesAvailable: () => boolean;
}): () => Readiness {
  return () => {
    const reasons: string[] = [];
    if (!checks.configReceived()) reasons.push('no mesh config received yet');
    if (!checks.certificatesAvailable()) reasons.push('workload certificates not available yet');
    return reasons.length === 0 ? { ready: true } : { ready: false, reasons };
  };
}
