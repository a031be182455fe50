// One structured JSON line per connection, written when it closes (and one per early denial).
// Field names follow istio/ztunnel's access log (src.addr, dst.workload, ...) so existing log
// queries carry over. Successful connections log at info, failures at error, denials at warn: a
// ztunnel at --log-level=warn keeps only the connections that went wrong.

import { createLogger, type LogSink, type Logger, type LogLevel } from '@ambit/core/log';
import type { ConnectionInfo } from './connection-telemetry.ts';

/** What connection-telemetry hands the access log. */
export interface AccessLogRecord {
  id: string;
  info: ConnectionInfo;
  startMs: number;
  endMs: number;
  /** Bytes towards the destination. */
  bytesSent: number;
  /** Bytes back from the destination. */
  bytesReceived: number;
  responseFlags: string;
  error?: string | undefined;
  /** Refused before it opened (earlyDeny). */
  denied?: boolean;
}

export interface AccessLog {
  connection(rec: AccessLogRecord): void;
}

/** The JSON object of one access-log line (besides time, level and msg). */
export type AccessLogFields = {
  scope: 'access';
  id: string;
  reporter: 'source' | 'destination';
  direction: 'outbound' | 'inbound';
  protocol: 'HBONE' | 'TCP';
  connection_security_policy: 'mutual_tls' | 'none';
  'src.addr': string;
  'src.workload'?: string;
  'src.namespace'?: string;
  'src.identity'?: string;
  'dst.addr': string;
  'dst.service'?: string;
  'dst.workload'?: string;
  'dst.namespace'?: string;
  'dst.identity'?: string;
  /** In-pod inbound: whose address the app saw as the source ('client' or 'pod'). */
  'app.src'?: 'client' | 'pod';
  bytes_sent: number;
  bytes_received: number;
  duration_ms: number;
  response_flags: string;
  error?: string;
};

export function createAccessLog(
  opts: { level?: LogLevel; out?: LogSink; now?: () => number; logger?: Logger } = {},
): AccessLog {
  const logger = opts.logger ?? createLogger({ level: opts.level, out: opts.out, now: opts.now });
  return {
    connection(rec) {
      const level: LogLevel = rec.denied ? 'warn' : rec.error !== undefined ? 'error' : 'info';
      if (!logger.enabled(level)) return;
      const msg = rec.denied ? 'connection denied' : 'connection complete';
      logger.log(level, msg, accessLogFields(rec));
    },
  };
}

export function accessLogFields(rec: AccessLogRecord): AccessLogFields {
  const i = rec.info;
  const f: AccessLogFields = {
    scope: 'access',
    id: rec.id,
    reporter: i.reporter,
    direction: i.reporter === 'source' ? 'outbound' : 'inbound',
    protocol: i.protocol,
    connection_security_policy: i.connectionSecurityPolicy,
    'src.addr': formatAddr(i.sourceAddress),
    'dst.addr': formatAddr(i.destinationAddress),
    bytes_sent: rec.bytesSent,
    bytes_received: rec.bytesReceived,
    duration_ms: Math.max(0, rec.endMs - rec.startMs),
    response_flags: rec.responseFlags,
  };
  if (i.source) {
    f['src.workload'] = i.source.name;
    f['src.namespace'] = i.source.namespace;
  }
  if (i.sourcePrincipal) f['src.identity'] = i.sourcePrincipal;
  if (i.destinationService) f['dst.service'] = i.destinationService.hostname;
  if (i.destination) {
    f['dst.workload'] = i.destination.name;
    f['dst.namespace'] = i.destination.namespace;
  }
  if (i.destinationPrincipal) f['dst.identity'] = i.destinationPrincipal;
  if (i.appSource) f['app.src'] = i.appSource;
  if (rec.error !== undefined) f.error = rec.error;
  return f;
}

/** "10.0.0.1:80", "[fd00::1]:80". */
export function formatAddr(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
