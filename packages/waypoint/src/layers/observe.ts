// The outermost layer: traceparent in (created when absent), then once the response body has
// ended (or failed), one access-log line and the request metrics. Bodies are counted by small
// Transforms, so nothing is buffered for it.

import { Transform, type Readable } from 'node:stream';
import type { Logger } from '@ambit/core/log';
import { workloadIdentity } from '@ambit/core/mesh/types';
import { requestLabels } from '@ambit/core/metrics/istio-labels';
import type { Layer, ProxyRequest } from '../http/types.ts';
import type { WaypointMetrics } from '../telemetry/metrics.ts';
import { nextTraceparent } from '../telemetry/traceparent.ts';

function counter(source: Readable, onDone: (bytes: number, ok: boolean) => void): Readable {
  let bytes = 0;
  let reported = false;
  const report = (ok: boolean): void => {
    if (!reported) {
      reported = true;
      onDone(bytes, ok);
    }
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  source.once('error', (e) => t.destroy(e));
  t.once('end', () => report(true));
  t.once('close', () => report(t.readableEnded));
  return source.pipe(t);
}

export interface ObserveDeps {
  metrics: WaypointMetrics;
  accessLog: Logger;
  now?: () => number;
}

export function observe(deps: ObserveDeps): Layer {
  const now = deps.now ?? (() => performance.now());
  return (next) => async (req) => {
    const started = now();
    const trace = nextTraceparent(req.headers.traceparent);
    let requestBytes = 0;
    const inner: ProxyRequest = { ...req, headers: { ...req.headers, traceparent: trace.header } };
    if (req.body !== undefined) inner.body = counter(req.body, (n) => (requestBytes = n));

    const res = await next(inner);
    const finish = (
      responseBytes: number,
      complete: boolean,
      trailers?: Record<string, unknown>,
    ): void => {
      const n = req.notes;
      const flag = res.flag ?? n.flag ?? (complete ? '-' : 'DC');
      const grpcStatus = req.grpc
        ? Number(trailers?.['grpc-status'] ?? res.headers['grpc-status'] ?? NaN)
        : NaN;
      const labels = {
        ...requestLabels({
          reporter: 'destination',
          source: req.conn.source,
          sourcePrincipal: req.conn.peerId,
          destination: n.destinationWorkload,
          destinationPrincipal:
            n.destinationWorkload &&
            workloadIdentity(n.destinationWorkload, req.snapshot.mesh.mesh.trustDomain),
          destinationService:
            n.destinationService ??
            (req.conn.target.kind === 'service' ? req.conn.target.service : undefined),
          requestProtocol: req.grpc ? 'grpc' : 'http',
          responseFlags: flag,
          connectionSecurityPolicy: 'mutual_tls',
          responseCode: res.status,
          ...(Number.isFinite(grpcStatus) && { grpcStatus }),
        }),
        reporter: 'waypoint',
      };
      const ms = now() - started;
      deps.metrics.istio.requests.inc(labels);
      deps.metrics.istio.durationMs.observe(labels, ms);
      deps.metrics.requestBytes.observe(labels, requestBytes);
      deps.metrics.responseBytes.observe(labels, responseBytes);
      deps.accessLog.info('request', {
        src: { identity: req.conn.peerId, ip: req.conn.sourceIp },
        method: req.method,
        authority: req.authority,
        path: req.path,
        protocol: req.grpc ? 'grpc' : req.protocol,
        status: res.status,
        flags: flag,
        route: n.routeName,
        upstream: n.upstreamHost,
        retries: n.retries,
        durationMs: Math.round(ms * 10) / 10,
        bytesIn: requestBytes,
        bytesOut: responseBytes,
        traceId: trace.traceId,
      });
    };
    if (res.body === undefined) {
      if (res.upgraded) {
        finish(0, true);
        return res;
      }
      finish(0, true);
      return res;
    }
    const body = counter(res.body, (bytes, ok) => {
      if (res.trailers) void res.trailers.then((t) => finish(bytes, ok, t));
      else finish(bytes, ok);
    });
    return { ...res, body };
  };
}
