import { describe, expect, it } from 'vitest';
import { formatSpiffeId } from '../identity/spiffe-id.ts';
import { createIstioRequestMetrics, createIstioTcpMetrics } from './istio-metrics.ts';
import { TCP_LABEL_NAMES, requestLabels, tcpLabels } from './istio-labels.ts';
import { createMetricsRegistry } from './registry.ts';

describe('Istio metrics on a per-process registry', () => {
  it("uses istio/ztunnel's TCP label names, which dashboards and Kiali query", () => {
    // Spelled out here, not derived from the code: a rename must fail this test.
    const istio =
      'reporter source_workload source_canonical_service source_canonical_revision ' +
      'source_workload_namespace source_principal source_app source_version source_cluster ' +
      'destination_service destination_service_namespace destination_service_name ' +
      'destination_workload destination_canonical_service destination_canonical_revision ' +
      'destination_workload_namespace destination_principal destination_app destination_version ' +
      'destination_cluster request_protocol response_flags connection_security_policy';
    expect([...TCP_LABEL_NAMES]).toEqual(istio.split(' '));
  });

  it('keeps two registries apart (never the global default)', async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    const ta = createIstioTcpMetrics(a);
    createIstioTcpMetrics(b); // registering the same names twice is fine: separate registries
    ta.opened.inc(
      tcpLabels({
        reporter: 'source',
        requestProtocol: 'tcp',
        responseFlags: '-',
        connectionSecurityPolicy: 'none',
      }),
    );
    expect(await a.metrics()).toContain('istio_tcp_connections_opened_total{reporter="source"');
    expect(await b.metrics()).not.toContain('istio_tcp_connections_opened_total{');
  });

  it('defines istio_requests_total and istio_request_duration_milliseconds with response_code', async () => {
    const reg = createMetricsRegistry();
    const m = createIstioRequestMetrics(reg);
    const labels = requestLabels({
      reporter: 'destination',
      sourcePrincipal: formatSpiffeId({
        trustDomain: 'cluster.local',
        namespace: 'default',
        serviceAccount: 'sleep',
      }),
      requestProtocol: 'http',
      responseFlags: '',
      connectionSecurityPolicy: 'mutual_tls',
      responseCode: 503,
    });
    m.requests.inc(labels);
    m.durationMs.observe(labels, 42);
    const text = await reg.metrics();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{'));
    expect(line).toContain('response_code="503"');
    expect(line).toContain('response_flags="-"');
    expect(line).toMatch(/ 1$/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="50"[^}]*\} 1/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="25"[^}]*\} 0/);
    expect(text).toContain('source_principal="spiffe://cluster.local/ns/default/sa/sleep"');
    expect(text).toContain('destination_workload="unknown"');
  });
});
