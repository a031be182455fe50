import { describe, expect, it } from 'vitest';
import { parseFortioVolume } from './load.ts';
import { buildTable, markdownTable, Samples } from './report.ts';

describe('ztunnel bench report', () => {
  it('judges ratio targets against haproxy and absolute targets per ztunnel', () => {
    const s = new Samples();
    s.add('maxRate', 'direct', 30_000);
    s.add('maxRate', 'ztunnel', 9_000);
    s.add('maxRate', 'ztunnel', 11_000);
    s.add('maxRate', 'haproxy', 10_000);
    s.add('cpu1k-client', 'ztunnel', 0.08);
    s.add('cpu1k-server', 'ztunnel', 0.05);
    const t = buildTable(s, ['direct', 'ztunnel', 'haproxy']);
    const row = (label: string): string[] =>
      t.rows.find((r) => r.cells[0]?.startsWith(label))?.cells ?? [];
    expect(row('max keep-alive rate')).toEqual([
      'max keep-alive rate (req/s)',
      '30,000',
      '10,000 (9,000–11,000)',
      '10,000',
      '1.00×',
      '>= 1.0× haproxy',
      'PASS',
    ]);
    expect(row('CPU per 1,000 req @ 1,000/s keep-alive (= vCPU at 1,000 req/s), client')).toContain(
      'MISS',
    );
    expect(row('CPU per 1,000 req @ 1,000/s keep-alive (= vCPU at 1,000 req/s), server')).toContain(
      'PASS',
    );
    expect(t.targets).toContain(
      '- max keep-alive rate: PASS — ztunnel 10,000 vs haproxy 10,000 req/s = 1.00× (target >= 1.0×)',
    );
    // Metrics nobody measured do not appear.
    expect(t.rows.some((r) => r.cells[0]?.startsWith('throughput'))).toBe(false);
    expect(markdownTable(t).split('\n')[1]).toBe('| --- | ---: | ---: | ---: | ---: | --- | --- |');
  });

  it('reports ratio targets as not measured without the haproxy pair (kernel path)', () => {
    const s = new Samples();
    s.add('maxRate', 'direct', 30_000);
    s.add('maxRate', 'ztunnel', 12_000);
    const t = buildTable(s, ['direct', 'ztunnel']);
    expect(t.head).toEqual(['metric', 'direct', 'ztunnel', 'ztunnel/direct', 'target', 'result']);
    expect(t.rows[0]?.cells.slice(3)).toEqual(['0.40×', '>= 1.0× haproxy', 'n/a']);
    expect(t.targets[0]).toMatch(/max keep-alive rate: not measured/);
  });

  it('refuses a sample for a metric it does not know', () => {
    expect(() => new Samples().add('maxRat', 'direct', 1)).toThrow(/unknown metric/);
  });

  it('reads fortio duration and bytes for throughput', () => {
    const v = parseFortioVolume(
      JSON.stringify({ ActualDuration: 2_000_000_000, Sizes: { Count: 4, Sum: 4_194_304 } }),
    );
    expect(v).toEqual({ seconds: 2, bytes: 4_194_304 });
    expect(() => parseFortioVolume('{}')).toThrow(/ActualDuration/);
  });
});
