// The one interface the proxy executors report connections through: open → sent/received → close,
// or earlyDeny for a connection refused before it was opened. It feeds both the Istio TCP metrics
// and the access log, so the two always agree.

import { randomBytes } from 'node:crypto';
import type { Workload, Service } from '@ambit/core/mesh/types';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import {
  RESPONSE_FLAGS,
  tcpLabels,
  type TcpLabels,
  type TrafficLabelInput,
} from '@ambit/core/metrics/istio-labels';
import type { ZtunnelMetrics } from './metrics.ts';
import type { AccessLog } from './access-log.ts';

export interface ConnectionInfo {
  /** Source ztunnel (outbound) or destination ztunnel (inbound). */
  reporter: 'source' | 'destination';
  source?: Workload;
  sourceAddress: { host: string; port: number };
  sourcePrincipal?: SpiffeId;
  destination?: Workload;
  destinationService?: Service;
  destinationPrincipal?: SpiffeId;
  /** The actual ip:port dialled, or the original destination. */
  destinationAddress: { host: string; port: number };
  connectionSecurityPolicy: 'mutual_tls' | 'none';
  protocol: 'HBONE' | 'TCP';
  /**
   * In-pod inbound: the source address the app saw — the client's own ('client', IP_TRANSPARENT)
   * or the pod's ('pod', when the kernel or the pod's routing does not allow the client's).
   */
  appSource?: 'client' | 'pod';
}

export interface ConnectionHandle {
  /** Unique per connection, for logs. */
  readonly id: string;
  /** Bytes towards the destination. */
  sent(bytes: number): void;
  /** Bytes back from the destination. */
  received(bytes: number): void;
  /** Once; later calls are ignored. */
  close(result: { responseFlags?: string; error?: Error }): void;
}

export interface ConnectionTelemetry {
  open(info: ConnectionInfo): ConnectionHandle;
  /** A connection refused before it was opened (policy denial, no route...): one metric + one log line. */
  earlyDeny(info: ConnectionInfo, responseFlags: string, reason: string): void;
}

/** response_flags when nothing went wrong (Envoy/Istio's convention). */
export const NO_FLAGS = RESPONSE_FLAGS.none;
/** Flags for a close with an error but no flags from the caller. */
export const UNKNOWN_ERROR_FLAGS = 'UNKNOWN';

export function createConnectionTelemetry(opts: {
  metrics: ZtunnelMetrics;
  log: AccessLog;
  now?: () => number;
}): ConnectionTelemetry {
  const { metrics, log } = opts;
  const now = opts.now ?? Date.now;
  // Ids: a per-process random prefix and a counter, so ids from restarted processes do not collide.
  const prefix = randomBytes(4).toString('hex');
  let seq = 0;

  return {
    open(info) {
      const id = `${prefix}-${(++seq).toString(36)}`;
      const start = now();
      const labels: TcpLabels = tcpLabels(tcpLabelInput(info, NO_FLAGS));
      let sentTotal = 0;
      let receivedTotal = 0;
      // Bytes are added to the counters lazily: at every scrape (the flusher) and at close, so the
      // hot path only adds two numbers while long connections still show up in each scrape.
      let sentPending = 0;
      let receivedPending = 0;
      let closed = false;
      const flush = (): void => {
        if (sentPending > 0) metrics.addBytesToDestination(labels, sentPending);
        if (receivedPending > 0) metrics.addBytesFromDestination(labels, receivedPending);
        sentPending = 0;
        receivedPending = 0;
      };
      const untrack = metrics.connectionOpened(labels, flush);
      return {
        id,
        sent(bytes) {
          if (closed || bytes <= 0) return;
          sentTotal += bytes;
          sentPending += bytes;
        },
        received(bytes) {
          if (closed || bytes <= 0) return;
          receivedTotal += bytes;
          receivedPending += bytes;
        },
        close(result) {
          if (closed) return;
          closed = true;
          flush();
          untrack();
          const flags = result.responseFlags ?? (result.error ? UNKNOWN_ERROR_FLAGS : NO_FLAGS);
          metrics.connectionClosed(tcpLabels(tcpLabelInput(info, flags)));
          log.connection({
            id,
            info,
            startMs: start,
            endMs: now(),
            bytesSent: sentTotal,
            bytesReceived: receivedTotal,
            responseFlags: flags,
            error: result.error?.message,
          });
        },
      };
    },

    earlyDeny(info, responseFlags, reason) {
      const id = `${prefix}-${(++seq).toString(36)}`;
      const t = now();
      metrics.connectionDenied(tcpLabels(tcpLabelInput(info, responseFlags)));
      log.connection({
        id,
        info,
        startMs: t,
        endMs: t,
        bytesSent: 0,
        bytesReceived: 0,
        responseFlags,
        error: reason,
        denied: true,
      });
    },
  };
}

function tcpLabelInput(info: ConnectionInfo, responseFlags: string): TrafficLabelInput {
  return {
    reporter: info.reporter,
    source: info.source,
    sourcePrincipal: info.sourcePrincipal,
    destination: info.destination,
    destinationService: info.destinationService,
    destinationPrincipal: info.destinationPrincipal,
    requestProtocol: 'tcp',
    responseFlags,
    connectionSecurityPolicy: info.connectionSecurityPolicy,
  };
}
