import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TCP_LABEL_NAMES } from '@ambit/core/metrics/istio-labels';
import { startMetricsServer } from '../admin/metrics-server.ts';
import type { HttpEndpoint } from '../admin/http-endpoint.ts';
import { createAccessLog } from './access-log.ts';
import { createConnectionTelemetry, type ConnectionTelemetry } from './connection-telemetry.ts';
import { ZtunnelMetrics } from './metrics.ts';
import {
  LineSink,
  REVIEWS_ID,
  SLEEP_ID,
  httpGet,
  outboundInfo,
  parseLabels,
  sampleValue,
} from './test-fixtures.ts';

describe('connection telemetry → /metrics and the access log', () => {
  let metrics: ZtunnelMetrics;
  let server: HttpEndpoint;
  let sink: LineSink;
  let telemetry: ConnectionTelemetry;
  let clock: number;

  beforeEach(async () => {
    clock = 1_700_000_000_000;
    metrics = new ZtunnelMetrics({ now: () => clock });
    sink = new LineSink();
    telemetry = createConnectionTelemetry({
      metrics,
      log: createAccessLog({ out: sink, now: () => clock }),
      now: () => clock,
    });
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
  });
  afterEach(async () => {
    await server.close();
  });

  const scrape = async (): Promise<string> => {
    const r = await httpGet(server.port, '/metrics');
    expect(r.status).toBe(200);
    expect(r.contentType).toContain('text/plain');
    return r.body;
  };

  it("reports an outbound connection with Istio's label set, bytes while open, and the close", async () => {
    const conn = telemetry.open(outboundInfo());
    conn.sent(100);
    conn.received(4000);

    let text = await scrape();
    const opened = text
      .split('\n')
      .find((l) => l.startsWith('istio_tcp_connections_opened_total{'));
    expect(opened).toBeDefined();
    const labels = parseLabels(opened!);
    expect(Object.keys(labels).sort()).toEqual([...TCP_LABEL_NAMES].sort());
    expect(labels).toMatchObject({
      reporter: 'source',
      source_workload: 'sleep',
      source_workload_namespace: 'default',
      source_principal: SLEEP_ID,
      source_app: 'sleep',
      source_version: 'v1',
      source_canonical_service: 'sleep',
      source_canonical_revision: 'v1',
      destination_service: 'reviews.bookinfo.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'bookinfo',
      destination_workload: 'reviews-v2',
      destination_workload_namespace: 'bookinfo',
      destination_principal: REVIEWS_ID,
      destination_app: 'reviews',
      destination_version: 'v2',
      request_protocol: 'tcp',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
      source_cluster: 'unknown',
    });
    // No IP or port ever becomes a label value.
    expect(text).not.toMatch(/"127\.0\.\d+\.\d+/);
    expect(text).not.toContain('40000');
    // Bytes of a live connection are visible before it closes. Istio's convention: "received" is
    // what the destination received (request direction), "sent" what it sent back.
    expect(sampleValue(text, 'istio_tcp_received_bytes_total', { reporter: 'source' })).toBe(100);
    expect(sampleValue(text, 'istio_tcp_sent_bytes_total', { reporter: 'source' })).toBe(4000);
    expect(sampleValue(text, 'ambit_ztunnel_connections_active', { direction: 'outbound' })).toBe(
      1,
    );
    expect(sampleValue(text, 'istio_tcp_connections_closed_total')).toBeUndefined();

    conn.sent(50);
    clock += 1234;
    conn.close({});
    conn.close({ responseFlags: 'CONNECT' }); // ignored: a connection closes once
    conn.sent(999); // ignored after close

    text = await scrape();
    expect(sampleValue(text, 'istio_tcp_received_bytes_total', { reporter: 'source' })).toBe(150);
    expect(sampleValue(text, 'istio_tcp_sent_bytes_total', { reporter: 'source' })).toBe(4000);
    expect(
      sampleValue(text, 'istio_tcp_connections_closed_total', {
        reporter: 'source',
        response_flags: '-',
        destination_workload: 'reviews-v2',
      }),
    ).toBe(1);
    expect(
      sampleValue(text, 'istio_tcp_connections_closed_total', { response_flags: 'CONNECT' }),
    ).toBe(undefined);
    expect(sampleValue(text, 'ambit_ztunnel_connections_active', { direction: 'outbound' })).toBe(
      0,
    );

    const lines = sink.json();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'connection complete',
      scope: 'access',
      id: conn.id,
      reporter: 'source',
      direction: 'outbound',
      protocol: 'HBONE',
      'src.addr': '127.0.1.1:40000',
      'src.workload': 'sleep-6d8f',
      'src.namespace': 'default',
      'src.identity': SLEEP_ID,
      'dst.addr': '127.0.2.1:8080',
      'dst.service': 'reviews.bookinfo.svc.cluster.local',
      'dst.workload': 'reviews-v2-7c9b',
      'dst.namespace': 'bookinfo',
      'dst.identity': REVIEWS_ID,
      bytes_sent: 150,
      bytes_received: 4000,
      duration_ms: 1234,
      response_flags: '-',
      time: new Date(clock).toISOString(),
    });
    expect(lines[0]).not.toHaveProperty('error');
  });

  it('counts an early denial with its response flags, as a denial, and logs it at warn', async () => {
    const info = { ...outboundInfo(), reporter: 'destination' as const };
    telemetry.earlyDeny(info, 'DENY', 'policy bookinfo/reviews-from-sleep: no ALLOW rule matched');

    const text = await scrape();
    const flags = { reporter: 'destination', response_flags: 'DENY' };
    expect(sampleValue(text, 'istio_tcp_connections_opened_total', flags)).toBe(1);
    expect(sampleValue(text, 'istio_tcp_connections_closed_total', flags)).toBe(1);
    expect(
      sampleValue(text, 'ambit_ztunnel_connections_denied_total', {
        direction: 'inbound',
        response_flags: 'DENY',
      }),
    ).toBe(1);
    expect(sampleValue(text, 'ambit_ztunnel_connections_active', { direction: 'inbound' })).toBe(0);

    const [line] = sink.json();
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'connection denied',
      direction: 'inbound',
      response_flags: 'DENY',
      bytes_sent: 0,
      bytes_received: 0,
      error: 'policy bookinfo/reviews-from-sleep: no ALLOW rule matched',
    });
  });

  it('logs a failed connection at error with its message, and gives every connection its own id', async () => {
    const a = telemetry.open(outboundInfo());
    const b = telemetry.open({
      ...outboundInfo(),
      destination: undefined,
      destinationService: undefined,
      destinationPrincipal: undefined,
      connectionSecurityPolicy: 'none',
      protocol: 'TCP',
    });
    expect(a.id).not.toBe(b.id);
    a.close({ responseFlags: 'CONNECT', error: new Error('connect ECONNREFUSED 127.0.2.1:15008') });
    b.close({ error: new Error('reset') });

    const text = await scrape();
    expect(
      sampleValue(text, 'istio_tcp_connections_closed_total', {
        response_flags: 'CONNECT',
        destination_workload: 'reviews-v2',
      }),
    ).toBe(1);
    // A passthrough connection to an address outside the mesh: destination labels are "unknown".
    expect(
      sampleValue(text, 'istio_tcp_connections_closed_total', {
        response_flags: 'UNKNOWN',
        destination_workload: 'unknown',
        destination_service: 'unknown',
        destination_principal: 'unknown',
        connection_security_policy: 'none',
      }),
    ).toBe(1);
    const lines = sink.json();
    expect(lines.map((l) => [l.level, l.response_flags, l.error])).toEqual([
      ['error', 'CONNECT', 'connect ECONNREFUSED 127.0.2.1:15008'],
      ['error', 'UNKNOWN', 'reset'],
    ]);
    expect(lines[1]).not.toHaveProperty('dst.workload');
  });

  it('reads the HBONE pool, certificates and config health gauges from their providers at scrape time', async () => {
    let streams = 3;
    metrics.setProviders({
      hbonePool: () => ({ sessions: 1, streams }),
      certificates: () => [{ id: SLEEP_ID, notAfter: new Date(clock + 3600_000) }],
      config: () => ({
        connected: true,
        lastUpdateMs: clock - 5000,
        resources: { Workload: 2, Service: 1, Authorization: 1 },
      }),
    });
    let text = await scrape();
    expect(sampleValue(text, 'ambit_ztunnel_hbone_pool_sessions')).toBe(1);
    expect(sampleValue(text, 'ambit_ztunnel_hbone_pool_streams')).toBe(3);
    expect(sampleValue(text, 'ambit_ztunnel_certificates')).toBe(1);
    expect(
      sampleValue(text, 'ambit_ztunnel_certificate_expiry_seconds', { identity: SLEEP_ID }),
    ).toBe(3600);
    expect(sampleValue(text, 'ambit_ztunnel_config_source_connected')).toBe(1);
    expect(sampleValue(text, 'ambit_ztunnel_config_last_update_timestamp_seconds')).toBe(
      (clock - 5000) / 1000,
    );
    expect(sampleValue(text, 'ambit_ztunnel_config_resources', { type: 'Workload' })).toBe(2);

    streams = 0;
    metrics.setProviders({ certificates: () => [] });
    text = await scrape();
    expect(sampleValue(text, 'ambit_ztunnel_hbone_pool_streams')).toBe(0);
    expect(sampleValue(text, 'ambit_ztunnel_certificates')).toBe(0);
    expect(
      sampleValue(text, 'ambit_ztunnel_certificate_expiry_seconds', { identity: SLEEP_ID }),
    ).toBeUndefined();
  });

  it('serves the same exposition at /stats/prometheus (Istio scrape path) and 404s elsewhere', async () => {
    telemetry.open(outboundInfo());
    const r = await httpGet(server.port, '/stats/prometheus');
    expect(r.status).toBe(200);
    expect(sampleValue(r.body, 'istio_tcp_connections_opened_total', { reporter: 'source' })).toBe(
      1,
    );
    expect((await httpGet(server.port, '/nope')).status).toBe(404);
  });
});
