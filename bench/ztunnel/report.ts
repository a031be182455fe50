// The ztunnel benchmark's table: one row per metric, one column per path (direct, ztunnel and,
// in the explicit topology, the haproxy mTLS pair), the ratio ztunnel / reference (haproxy when it
// ran, else direct) and the verdict against the targets — ratios to the C pair, or absolute
// limits per ztunnel process.
import { median } from '../hbone/report.ts';

export const PATH_NAMES = ['direct', 'ztunnel', 'haproxy'] as const;
export type PathName = (typeof PATH_NAMES)[number];

export interface Target {
  cmp: '>=' | '<=';
  value: number;
  /** ratio: ztunnel / haproxy in the same run; absolute: the ztunnel cell itself. */
  kind: 'ratio' | 'absolute';
  name: string;
}

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  digits: number;
  target?: Target;
}

const LATENCY: MetricDef[] = [];
for (const rate of [1000, 2000]) {
  for (const ka of [true, false]) {
    const how = ka ? 'keep-alive' : 'new conn/req';
    const r = rate.toLocaleString('en-US');
    for (const p of ['50', '99', '99.9']) {
      LATENCY.push({
        key: `lat-${rate}-${ka ? 'ka' : 'nc'}-p${p}`,
        label: `latency p${p} @ ${r}/s, ${how}`,
        unit: 'µs',
        digits: 0,
        ...(rate === 2000 && ka && p === '99'
          ? {
              target: {
                cmp: '<=' as const,
                value: 1.1,
                kind: 'ratio' as const,
                name: 'p99 at 2,000/s (keep-alive)',
              },
            }
          : {}),
      });
    }
  }
}

export const METRICS: readonly MetricDef[] = [
  ...LATENCY,
  {
    key: 'maxRate',
    label: 'max keep-alive rate',
    unit: 'req/s',
    digits: 0,
    target: { cmp: '>=', value: 1.0, kind: 'ratio', name: 'max keep-alive rate' },
  },
  { key: 'maxP99', label: 'latency p99 @ max keep-alive rate', unit: 'µs', digits: 0 },
  {
    key: 'connRate',
    label: 'max new connections (1 req each)',
    unit: 'conn/s',
    digits: 0,
    target: { cmp: '>=', value: 3, kind: 'ratio', name: 'new connections/s' },
  },
  {
    key: 'tput1',
    label: 'throughput, 1 connection',
    unit: 'Gbit/s',
    digits: 2,
    target: { cmp: '>=', value: 0.6, kind: 'ratio', name: 'one-connection throughput' },
  },
  ...(['client', 'server'] as const).flatMap((side): MetricDef[] => {
    // client: node-a's ztunnel (haproxy's client side); server: node-b's (haproxy's server side).
    const who = `${side} proxy`;
    return [
      {
        key: `cpu1k-${side}`,
        label: `CPU per 1,000 req @ 1,000/s keep-alive (= vCPU at 1,000 req/s), ${who}`,
        unit: 'CPU s',
        digits: 3,
        target: {
          cmp: '<=',
          value: 0.06,
          kind: 'absolute',
          name: `CPU per 1,000 req/s, ${side} side`,
        },
      },
      {
        key: `cpuMax-${side}`,
        label: `CPU per 1,000 req @ max keep-alive rate, ${who}`,
        unit: 'CPU s',
        digits: 3,
      },
      {
        key: `cpuConn-${side}`,
        label: `CPU per 1,000 new connections @ max rate, ${who}`,
        unit: 'CPU s',
        digits: 3,
      },
      { key: `rssIdle-${side}`, label: `RSS idle, ${who}`, unit: 'MB', digits: 1 },
      {
        key: `rss1k-${side}`,
        label: `RSS after its first traffic, 1,000/s keep-alive, ${who}`,
        unit: 'MB',
        digits: 1,
        target: {
          cmp: '<=',
          value: 60,
          kind: 'absolute',
          name: `RSS at 1,000 req/s, ${side} side`,
        },
      },
      {
        key: `rssBeforeHeld-${side}`,
        label: `RSS before opening the idle connections, ${who}`,
        unit: 'MB',
        digits: 1,
      },
      {
        key: `rssHeld-${side}`,
        label: `RSS holding the idle tunneled connections, ${who}`,
        unit: 'MB',
        digits: 1,
      },
      {
        key: `kbPerConn-${side}`,
        label: `memory per idle tunneled connection (held − before) / count, ${who}`,
        unit: 'kB',
        digits: 1,
        target: {
          cmp: '<=',
          value: 20,
          kind: 'absolute',
          name: `memory per idle connection, ${side} side`,
        },
      },
      { key: `rssMax-${side}`, label: `RSS after max rate, ${who}`, unit: 'MB', digits: 1 },
      { key: `rssPeak-${side}`, label: `RSS peak (VmHWM), ${who}`, unit: 'MB', digits: 1 },
    ];
  }),
];

/** Every sample taken, by metric key and path. */
export class Samples {
  readonly #data = new Map<string, number[]>();

  add(metric: string, path: PathName, value: number): void {
    if (!METRICS.some((m) => m.key === metric)) throw new Error(`unknown metric ${metric}`);
    const k = `${metric}/${path}`;
    const list = this.#data.get(k) ?? [];
    list.push(value);
    this.#data.set(k, list);
  }

  get(metric: string, path: PathName): readonly number[] {
    return this.#data.get(`${metric}/${path}`) ?? [];
  }
}

export interface Row {
  cells: string[];
  verdict: '' | 'PASS' | 'MISS' | 'n/a';
}

function fmt(x: number, digits: number): string {
  return x.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export interface Table {
  head: string[];
  rows: Row[];
  targets: string[];
}

/** Columns: the paths that ran; the ratio to haproxy when it ran, else to direct. */
export function buildTable(samples: Samples, paths: readonly PathName[]): Table {
  const ref: PathName = paths.includes('haproxy') ? 'haproxy' : 'direct';
  const head = ['metric', ...paths, `ztunnel/${ref}`, 'target', 'result'];
  const rows: Row[] = [];
  const targets: string[] = [];
  for (const m of METRICS) {
    const all = paths.map((p) => samples.get(m.key, p));
    if (all.every((xs) => xs.length === 0)) continue;
    const cell = (xs: readonly number[]): string => {
      const med = median(xs);
      if (med === undefined) return '—';
      if (xs.length < 2) return fmt(med, m.digits);
      return `${fmt(med, m.digits)} (${fmt(Math.min(...xs), m.digits)}–${fmt(Math.max(...xs), m.digits)})`;
    };
    const z = median(samples.get(m.key, 'ztunnel'));
    const r = median(samples.get(m.key, ref));
    const ratio = z !== undefined && r !== undefined && r > 0 ? z / r : undefined;
    let verdict: Row['verdict'] = '';
    let targetText = '';
    const t = m.target;
    if (t) {
      targetText =
        t.kind === 'ratio'
          ? `${t.cmp} ${fmt(t.value, 1)}× haproxy`
          : `${t.cmp} ${t.value} ${m.unit}`;
      const v = t.kind === 'ratio' ? (ref === 'haproxy' ? ratio : undefined) : z;
      if (v === undefined) {
        verdict = 'n/a';
        targets.push(
          `- ${t.name}: not measured${t.kind === 'ratio' ? ' (needs the haproxy pair: explicit topology)' : ''}`,
        );
      } else {
        const ok = t.cmp === '>=' ? v >= t.value : v <= t.value;
        verdict = ok ? 'PASS' : 'MISS';
        targets.push(
          t.kind === 'ratio'
            ? `- ${t.name}: ${verdict} — ztunnel ${fmt(z ?? 0, m.digits)} vs haproxy ${fmt(r ?? 0, m.digits)} ${m.unit} = ${fmt(v, 2)}× (target ${t.cmp} ${fmt(t.value, 1)}×)`
            : `- ${t.name}: ${verdict} — ${fmt(v, m.digits)} ${m.unit} (target ${t.cmp} ${t.value} ${m.unit})`,
        );
      }
    }
    rows.push({
      cells: [
        `${m.label} (${m.unit})`,
        ...all.map(cell),
        ratio === undefined ? '—' : `${fmt(ratio, 2)}×`,
        targetText,
        verdict,
      ],
      verdict,
    });
  }
  return { head, rows, targets };
}

export function consoleTable(t: Table): string {
  const all = [t.head, ...t.rows.map((r) => r.cells)];
  const widths = t.head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [
    line(t.head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...t.rows.map((r) => line(r.cells)),
  ].join('\n');
}

export function markdownTable(t: Table): string {
  const line = (r: string[]): string => `| ${r.join(' | ')} |`;
  const last = t.head.length - 1;
  return [
    line(t.head),
    line(t.head.map((_, i) => (i === 0 || i >= last - 1 ? '---' : '---:'))),
    ...t.rows.map((r) => line(r.cells.map((c, i) => (i === last && c ? `**${c}**` : c)))),
  ].join('\n');
}
