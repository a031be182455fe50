// The benchmark's figures are only as good as its reading of the tools' output: these pin the
// parsing of wrk, fortio, iperf3 and /proc, the choice of PEM files, and the target verdicts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findPems } from './certs.ts';
import { parseFortioJson, parseIperfJson, parseWrkOutput } from './load-tools.ts';
import { parseStatCpuTicks, parseStatusMemory } from './proc-stats.ts';
import { buildRows, Samples } from './report.ts';

const WRK = `Running 2s test @ http://127.0.0.1:41023/echo?size=64
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    3.01ms  61.20ms   95.12%
    Req/Sec    21.35k     1.90k   23.80k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.21ms
     90%    2.40ms
     99%    1.03s
  42712 requests in 2.01s, 7.33MB read
  Socket errors: connect 0, read 20, write 2, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:  21249.75
Transfer/sec:      3.65MB
`;

describe('parseWrkOutput', () => {
  it('reads rate, request count and percentiles, converting every unit to microseconds', () => {
    const r = parseWrkOutput(WRK);
    expect(r.requestsPerSecond).toBe(21249.75);
    expect(r.requests).toBe(42712);
    expect(r.seconds).toBeCloseTo(2.01);
    expect(r.p50).toBe(812);
    expect(r.p99).toBe(1_030_000);
  });

  it('counts socket errors and non-2xx responses, and keeps wrk’s words', () => {
    const r = parseWrkOutput(WRK);
    expect(r.errors).toBe(25);
    expect(r.errorDetail).toContain('read 20');
  });

  it('reports no errors when wrk printed none', () => {
    const clean = WRK.replace(/ {2}Socket errors.*\n {2}Non-2xx.*\n/, '');
    expect(parseWrkOutput(clean).errors).toBe(0);
  });

  it('refuses output without the latency distribution (run without --latency)', () => {
    expect(() =>
      parseWrkOutput(WRK.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '')),
    ).toThrow(/unexpected output/);
  });
});

describe('parseFortioJson', () => {
  it('reads percentiles in microseconds and counts non-200 answers as errors', () => {
    const r = parseFortioJson(
      JSON.stringify({
        ActualQPS: 1999.2,
        RetCodes: { '200': 3990, '503': 10 },
        DurationHistogram: {
          Count: 4000,
          Percentiles: [
            { Percentile: 50, Value: 0.0005 },
            { Percentile: 99, Value: 0.002 },
            { Percentile: 99.9, Value: 0.0041 },
          ],
        },
      }),
    );
    expect(r).toEqual({
      actualQps: 1999.2,
      count: 4000,
      errors: 10,
      p50: 500,
      p99: 2000,
      p999: 4100,
    });
  });
});

describe('parseIperfJson', () => {
  it('takes the rate the receiver saw', () => {
    const out = JSON.stringify({
      end: {
        sum_sent: { bits_per_second: 5e9, retransmits: 3 },
        sum_received: { bits_per_second: 4.9e9 },
      },
    });
    expect(parseIperfJson(out)).toEqual({ bitsPerSecond: 4.9e9, retransmits: 3 });
  });

  it('turns iperf3’s error field into an exception', () => {
    expect(() => parseIperfJson(JSON.stringify({ error: 'unable to connect to server' }))).toThrow(
      /unable to connect/,
    );
  });
});

describe('/proc parsing', () => {
  it('finds utime and stime even when the command name holds spaces and parentheses', () => {
    const stat =
      '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 3000 0 0 0 150 27 0 0 20 0 11 0 38177 1000000 20000 18446744073709551615';
    expect(parseStatCpuTicks(stat)).toBe(177);
  });

  it('reads VmRSS and VmHWM in bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n';
    expect(parseStatusMemory(status)).toEqual({ rss: 1024 * 1024, hwm: 2048 * 1024 });
  });
});

describe('findPems', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const make = (names: string[]): string => {
    dir = mkdtempSync(join(tmpdir(), 'bench-pems-'));
    for (const n of names) writeFileSync(join(dir, n), '');
    return dir;
  };

  it('understands the files hbone-pair.ts certs writes', () => {
    const d = make([
      'root-cert.pem',
      'client-chain.pem',
      'client-key.pem',
      'server-chain.pem',
      'server-key.pem',
    ]);
    expect(findPems(d)).toEqual({
      dir: d,
      root: join(d, 'root-cert.pem'),
      clientCert: join(d, 'client-chain.pem'),
      clientKey: join(d, 'client-key.pem'),
      serverCert: join(d, 'server-chain.pem'),
      serverKey: join(d, 'server-key.pem'),
    });
  });

  it('refuses to guess when two files could be the client certificate', () => {
    const d = make([
      'root-cert.pem',
      'client-chain.pem',
      'client-cert.pem',
      'client-key.pem',
      'server-chain.pem',
      'server-key.pem',
    ]);
    expect(() => findPems(d)).toThrow(/client certificate/);
  });
});

describe('buildRows', () => {
  it('compares medians of hbone and haproxy against each target, in the target’s direction', () => {
    const s = new Samples();
    for (const v of [10, 30, 20]) s.add('maxRate', 'hbone', v); // median 20
    s.add('maxRate', 'haproxy', 25);
    s.add('fixedP99', 'hbone', 1000);
    s.add('fixedP99', 'haproxy', 1000);
    s.add('connRate', 'hbone', 900);
    s.add('connRate', 'haproxy', 300);
    const rows = buildRows(s);
    const row = (label: string) => rows.find((r) => r.label.startsWith(label));
    expect(row('max keep-alive rate')).toMatchObject({ ratio: '0.80×', verdict: 'MISS' });
    expect(row('max keep-alive rate')?.cells.hbone).toBe('20 (10–30)');
    expect(row('latency p99 @ 2,000/s')).toMatchObject({ ratio: '1.00×', verdict: 'PASS' });
    expect(row('new connections')).toMatchObject({ ratio: '3.00×', verdict: 'PASS' });
    expect(row('throughput, 1 stream')).toMatchObject({ ratio: '—', verdict: 'n/a' });
  });
});
