import { describe, expect, it } from 'vitest';
import { createAccessLog, type AccessLogRecord } from './access-log.ts';
import { LineSink, outboundInfo } from './test-fixtures.ts';

const record = (over: Partial<AccessLogRecord> = {}): AccessLogRecord => ({
  id: 'c-1',
  info: outboundInfo(),
  startMs: 1000,
  endMs: 1500,
  bytesSent: 10,
  bytesReceived: 20,
  responseFlags: '-',
  ...over,
});

describe('access log', () => {
  it('keeps only failures and denials at --log-level=warn, and only failures at error', () => {
    const warn = new LineSink();
    const error = new LineSink();
    for (const [sink, level] of [
      [warn, 'warn'],
      [error, 'error'],
    ] as const) {
      const log = createAccessLog({ out: sink, level });
      log.connection(record());
      log.connection(record({ id: 'c-2', responseFlags: 'DENY', error: 'denied', denied: true }));
      log.connection(record({ id: 'c-3', responseFlags: 'CONNECT', error: 'refused' }));
    }
    expect(warn.json().map((l) => [l.id, l.level])).toEqual([
      ['c-2', 'warn'],
      ['c-3', 'error'],
    ]);
    expect(error.json().map((l) => l.id)).toEqual(['c-3']);
  });

  it('writes IPv6 addresses in brackets and leaves out what is unknown', () => {
    const sink = new LineSink();
    createAccessLog({ out: sink }).connection(
      record({
        info: {
          reporter: 'destination',
          sourceAddress: { host: 'fd00::1', port: 5000 },
          destinationAddress: { host: 'fd00::2', port: 80 },
          connectionSecurityPolicy: 'none',
          protocol: 'TCP',
        },
      }),
    );
    const [line] = sink.json();
    expect(line).toMatchObject({
      direction: 'inbound',
      'src.addr': '[fd00::1]:5000',
      'dst.addr': '[fd00::2]:80',
      connection_security_policy: 'none',
      duration_ms: 500,
    });
    expect(
      Object.keys(line!).filter((k) => k.endsWith('.workload') || k.endsWith('.identity')),
    ).toEqual([]);
  });
});
