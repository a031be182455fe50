// The benchmark's settings: the one place that reads its command line.
import { parseArgs } from 'node:util';

export const PATHS = ['direct', 'hbone', 'haproxy'] as const;
export type PathName = (typeof PATHS)[number];

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  paths: readonly PathName[];
  /** Markdown report file. */
  out: string | undefined;
  hbonePair: string;
  /** Seconds per measurement. */
  iperfSeconds: number;
  iperfOmitSeconds: number;
  fixedRateSeconds: number;
  maxRateSeconds: number;
  newConnSeconds: number;
  warmupSeconds: number;
  fixedQps: number;
  fixedConnections: number;
  maxRateConnections: number;
  newConnConnections: number;
  /** Response body of the echo backend, bytes. */
  payloadBytes: number;
  command: string;
}

export const USAGE = `usage: bash bench/hbone.sh [--quick] [--rounds N] [--paths direct,hbone,haproxy] [--out FILE]
  --quick     short durations (harness validation; numbers are not comparable)
  --rounds N  repeat every measurement N times, interleaving the paths; the median is reported
  --paths     which paths to measure (default all three; ratios need hbone and haproxy)
  --out FILE  where to write the markdown block (default bench/results/hbone-<time>.md)`;

export function parseOptions(argv: readonly string[], root: string): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      paths: { type: 'string', default: PATHS.join(',') },
      out: { type: 'string' },
      // The bundle bench/hbone.sh builds (make build); a .ts path also works (type stripping, ~18 MB more RSS).
      'hbone-pair': { type: 'string', default: `${root}/build/hbone-pair.mjs` },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const paths = values.paths.split(',').map((p) => p.trim());
  for (const p of paths) {
    if (!(PATHS as readonly string[]).includes(p)) throw new Error(`unknown path ${p}\n${USAGE}`);
  }
  const quick = values.quick;
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9)
    throw new Error(`--rounds must be 1..9`);
  return Object.freeze({
    quick,
    rounds,
    paths: PATHS.filter((p) => paths.includes(p)),
    out: values.out,
    hbonePair: values['hbone-pair'],
    iperfSeconds: quick ? 1 : 5,
    iperfOmitSeconds: quick ? 0 : 1,
    fixedRateSeconds: quick ? 2 : 10,
    maxRateSeconds: quick ? 2 : 10,
    newConnSeconds: quick ? 2 : 10,
    warmupSeconds: quick ? 1 : 3,
    fixedQps: 2000,
    fixedConnections: 16,
    maxRateConnections: 32,
    newConnConnections: 32,
    payloadBytes: 64,
    command: ['bash bench/hbone.sh', ...argv].join(' '),
  });
}
