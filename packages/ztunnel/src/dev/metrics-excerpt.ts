// The demo's metrics excerpt: destination-side closed-connection counters from a /metrics text,
// reduced to the labels a reader of the demo cares about. Shared by both demos.

const KEEP_LABELS = [
  'source_workload',
  'destination_workload',
  'source_principal',
  'connection_security_policy',
  'response_flags',
];
const PREFIX = 'istio_tcp_connections_closed_total{reporter="destination"';

/** One line per destination-reported closed-connection series, with a few labels kept. */
export function closedConnectionsExcerpt(metrics: string): string[] {
  const out: string[] = [];
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(PREFIX)) continue;
    const labels = [...line.matchAll(/(\w+)="([^"]*)"/g)]
      .filter((m) => KEEP_LABELS.includes(m[1] ?? ''))
      .map((m) => `${m[1]}="${m[2]}"`);
    out.push(
      `  istio_tcp_connections_closed_total{reporter="destination",${labels.join(',')},…} ${line.split(' ').pop()}`,
    );
  }
  return out;
}
