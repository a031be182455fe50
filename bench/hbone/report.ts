// Turns the samples into the per-metric table (direct, hbone, haproxy, hbone/haproxy vs target)
// printed on the console and written as the markdown block for docs/benchmarks.md.
import type { PathName } from './options.ts';

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  digits: number;
  /** Targets are ratios hbone / haproxy measured in the same run. */
  target?: { cmp: '>=' | '<='; ratio: number; name: string };
}

export const METRICS = [
  {
    key: 'tput1',
    label: 'throughput, 1 stream',
    unit: 'Gbit/s',
    digits: 2,
    target: { cmp: '>=', ratio: 0.6, name: 'one-stream throughput' },
  },
  { key: 'tput16', label: 'throughput, 16 streams', unit: 'Gbit/s', digits: 2 },
  { key: 'fixedP50', label: 'latency p50 @ 2,000/s', unit: 'µs', digits: 0 },
  {
    key: 'fixedP99',
    label: 'latency p99 @ 2,000/s',
    unit: 'µs',
    digits: 0,
    target: { cmp: '<=', ratio: 1.1, name: 'p99 at 2,000/s' },
  },
  { key: 'fixedP999', label: 'latency p99.9 @ 2,000/s', unit: 'µs', digits: 0 },
  {
    key: 'maxRate',
    label: 'max keep-alive rate',
    unit: 'req/s',
    digits: 0,
    target: { cmp: '>=', ratio: 1.0, name: 'max keep-alive rate' },
  },
  { key: 'maxP50', label: 'latency p50 @ max rate', unit: 'µs', digits: 0 },
  { key: 'maxP99', label: 'latency p99 @ max rate', unit: 'µs', digits: 0 },
  {
    key: 'connRate',
    label: 'new connections',
    unit: 'conn/s',
    digits: 0,
    target: { cmp: '>=', ratio: 3, name: 'new connections/s' },
  },
  { key: 'cpuPerReq', label: 'proxy CPU per request @ max rate', unit: 'µs', digits: 1 },
  { key: 'cpuPct', label: 'proxy CPU @ max rate (both procs)', unit: '% of a core', digits: 0 },
  { key: 'cpuPerConn', label: 'proxy CPU per new connection', unit: 'µs', digits: 1 },
  { key: 'rssIdleClient', label: 'RSS idle, client proxy', unit: 'MiB', digits: 1 },
  { key: 'rssIdleServer', label: 'RSS idle, server proxy', unit: 'MiB', digits: 1 },
  { key: 'rssLoadClient', label: 'RSS after max rate, client proxy', unit: 'MiB', digits: 1 },
  { key: 'rssLoadServer', label: 'RSS after max rate, server proxy', unit: 'MiB', digits: 1 },
  { key: 'rssPeakClient', label: 'RSS peak (VmHWM), client proxy', unit: 'MiB', digits: 1 },
  { key: 'rssPeakServer', label: 'RSS peak (VmHWM), server proxy', unit: 'MiB', digits: 1 },
] as const satisfies readonly MetricDef[];

export type MetricKey = (typeof METRICS)[number]['key'];

/** Every sample taken, by metric and path (one per round, or one in all for memory). */
export class Samples {
  readonly #data = new Map<string, number[]>();

  add(metric: MetricKey, path: PathName, value: number): void {
    const k = `${metric}/${path}`;
    const list = this.#data.get(k) ?? [];
    list.push(value);
    this.#data.set(k, list);
  }

  get(metric: MetricKey, path: PathName): readonly number[] {
    return this.#data.get(`${metric}/${path}`) ?? [];
  }
}

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface Row {
  label: string;
  cells: Record<PathName, string>;
  ratio: string;
  target: string;
  verdict: '' | 'PASS' | 'MISS' | 'n/a';
}

function fmt(x: number, digits: number): string {
  return x.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function buildRows(samples: Samples): Row[] {
  return METRICS.map((m: MetricDef) => {
    const cell = (p: PathName): string => {
      const xs = samples.get(m.key as MetricKey, p);
      const med = median(xs);
      if (med === undefined) return '—';
      if (xs.length < 2) return fmt(med, m.digits);
      return `${fmt(med, m.digits)} (${fmt(Math.min(...xs), m.digits)}–${fmt(Math.max(...xs), m.digits)})`;
    };
    const h = median(samples.get(m.key as MetricKey, 'hbone'));
    const r = median(samples.get(m.key as MetricKey, 'haproxy'));
    const ratio = h !== undefined && r !== undefined && r > 0 ? h / r : undefined;
    let verdict: Row['verdict'] = '';
    if (m.target) {
      if (ratio === undefined) verdict = 'n/a';
      else
        verdict = (m.target.cmp === '>=' ? ratio >= m.target.ratio : ratio <= m.target.ratio)
          ? 'PASS'
          : 'MISS';
    }
    return {
      label: `${m.label} (${m.unit})`,
      cells: { direct: cell('direct'), hbone: cell('hbone'), haproxy: cell('haproxy') },
      ratio: ratio === undefined ? '—' : `${fmt(ratio, 2)}×`,
      target: m.target ? `${m.target.cmp} ${fmt(m.target.ratio, 1)}×` : '',
      verdict,
    };
  });
}

const HEAD = ['metric', 'direct', 'hbone', 'haproxy', 'hbone/haproxy', 'target', 'result'];

function cellsOf(r: Row): string[] {
  return [r.label, r.cells.direct, r.cells.hbone, r.cells.haproxy, r.ratio, r.target, r.verdict];
}

export function consoleTable(rows: readonly Row[]): string {
  const all = [HEAD, ...rows.map(cellsOf)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [
    line(HEAD),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map((r) => line(cellsOf(r))),
  ].join('\n');
}

export function markdownTable(rows: readonly Row[]): string {
  const line = (r: string[]): string => `| ${r.join(' | ')} |`;
  return [
    line(HEAD),
    line(['---', '---:', '---:', '---:', '---:', '---', '---']),
    ...rows.map((r) => line(cellsOf(r).map((c, i) => (i === 6 && c ? `**${c}**` : c)))),
  ].join('\n');
}

/** One sentence per target: met or missed, with the numbers. */
export function targetLines(samples: Samples): string[] {
  const out: string[] = [];
  for (const m of METRICS as readonly MetricDef[]) {
    if (!m.target) continue;
    const h = median(samples.get(m.key as MetricKey, 'hbone'));
    const r = median(samples.get(m.key as MetricKey, 'haproxy'));
    if (h === undefined || r === undefined) {
      out.push(`- ${m.target.name}: not measured (needs both hbone and haproxy)`);
      continue;
    }
    const ratio = h / r;
    const ok = m.target.cmp === '>=' ? ratio >= m.target.ratio : ratio <= m.target.ratio;
    out.push(
      `- ${m.target.name}: ${ok ? 'met' : 'MISSED'} — hbone ${fmt(h, m.digits)} vs haproxy ${fmt(r, m.digits)} ${m.unit} = ${fmt(ratio, 2)}× (target ${m.target.cmp} ${fmt(m.target.ratio, 1)}×)`,
    );
  }
  return out;
}
