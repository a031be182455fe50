// The outermost layer: traceparent in (created when absent), then once the response body has
// ended (or failed), one access-log line and the request metrics. Bodies are counted by a 'data'
// listener added once their consumer has started reading (watchBody), so nothing is buffered or
// re-piped for it.

import type { Readable } from 'node:stream';
import type { Logger } from '@ambit/core/log';
import { workloadIdentity } from '@ambit/core/mesh/types';
import { requestLabels } from '@ambit/core/metrics/istio-labels';
import type { Layer, ProxyRequest, ProxyResponse } from '../http/types.ts';
import type { WaypointMetrics } from '../telemetry/metrics.ts';
import { nextTraceparent } from '../telemetry/traceparent.ts';

/**
 * Counts the bytes `body` delivers and reports once it ended (complete) or was destroyed. The
 * 'data' listener is added on 'resume', i.e. once a consumer put the stream in flowing mode
 * (pipe, on('data')): added earlier it would start the flow itself and lose bytes to nobody.
 * Every consumer in the waypoint reads in flowing mode.
 */
export function watchBody(
  body: Readable,
  onDone: (bytes: number, complete: boolean) => void,
): void {
  let bytes = 0;
  let reported = false;
  const count = (chunk: Buffer): void => {
    bytes += chunk.length;
  };
  const report = (): void => {
    if (reported) return;
    reported = true;
    onDone(bytes, body.readableEnded);
  };
  if (body.readableFlowing === true) body.on('data', count);
  else body.once('resume', () => body.on('data', count));
  body.once('end', report);
  body.once('close', report);
}

/** Small ids for the objects label values come from, so a label set's cache key is short. */
const ids = new WeakMap<object, number>();
let nextId = 1;
function idOf(o: object | undefined): number {
  if (o === undefined) return 0;
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}

export interface ObserveDeps {
  metrics: WaypointMetrics;
  accessLog: Logger;
  now?: () => number;
}

export function observe(deps: ObserveDeps): Layer {
  const now = deps.now ?? (() => performance.now());
  const logging = (): boolean => deps.accessLog.enabled('info');

  const report = (
    req: ProxyRequest,
    res: ProxyResponse,
    started: number,
    traceId: string,
    requestBytes: number,
    responseBytes: number,
    complete: boolean,
    trailers?: Record<string, unknown>,
  ): void => {
    const n = req.notes;
    const flag = res.flag ?? n.flag ?? (complete ? '-' : 'DC');
    const grpcStatus = req.grpc
      ? Number(trailers?.['grpc-status'] ?? res.headers['grpc-status'] ?? NaN)
      : NaN;
    const service =
      n.destinationService ??
      (req.conn.target.kind === 'service' ? req.conn.target.service : undefined);
    const dst = n.destinationWorkload;
    const td = req.snapshot.mesh.mesh.trustDomain;
    // Everything the labels are made of: the objects (immutable per snapshot) by identity.
    const key = `${idOf(req.conn.source)} ${req.conn.peerId} ${idOf(dst)} ${idOf(service)} ${td} ${req.grpc ? 'g' : 'h'} ${flag} ${res.status} ${grpcStatus}`;
    const ms = now() - started;
    deps.metrics.requests
      .series(key, () => ({
        ...requestLabels({
          reporter: 'destination',
          source: req.conn.source,
          sourcePrincipal: req.conn.peerId,
          destination: dst,
          destinationPrincipal: dst && workloadIdentity(dst, td),
          destinationService: service,
          requestProtocol: req.grpc ? 'grpc' : 'http',
          responseFlags: flag,
          connectionSecurityPolicy: 'mutual_tls',
          responseCode: res.status,
          ...(Number.isFinite(grpcStatus) && { grpcStatus }),
        }),
        reporter: 'waypoint',
      }))
      .record(ms, requestBytes, responseBytes);
    if (logging())
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
        traceId,
      });
  };

  return (next) => async (req) => {
    const started = now();
    const trace = nextTraceparent(req.headers.traceparent);
    // The edge made this headers object for this request alone.
    req.headers.traceparent = trace.header;
    let requestBytes = 0;
    if (req.body !== undefined) watchBody(req.body, (n) => (requestBytes = n));

    const res = await next(req);
    if (res.body === undefined) {
      report(req, res, started, trace.traceId, requestBytes, 0, true);
      return res;
    }
    const trailers = res.trailers;
    watchBody(res.body, (bytes, complete) => {
      if (trailers)
        void trailers.then((t) =>
          report(req, res, started, trace.traceId, requestBytes, bytes, complete, t),
        );
      else report(req, res, started, trace.traceId, requestBytes, bytes, complete);
    });
    return res;
  };
}
