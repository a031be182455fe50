// The ztunnel benchmark's settings: the one place that reads its command line.
import { parseArgs } from 'node:util';

export const TOPOLOGIES = ['explicit', 'inpod'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

export interface ZtunnelBenchOptions {
  /** explicit: loopback, SOCKS5 (issue 3, no root); inpod: veth + nftables REDIRECT (issue 4, root). */
  topology: Topology;
  quick: boolean;
  rounds: number;
  out: string | undefined;
  ztunnel: string;
  /** Requests/s of the fixed-rate latency runs. */
  fixedRates: readonly number[];
  fixedSeconds: number;
  fixedConnections: number;
  /** Connections of the fixed-rate runs with a new connection per request (each is a closed loop). */
  fixedNewConnConnections: number;
  maxRateSeconds: number;
  maxRateConnections: number;
  bulkSeconds: number;
  warmupSeconds: number;
  /** Request and response body, bytes. */
  payloadBytes: number;
  /** Tunneled connections held open for the idle-memory figure. */
  idleConnections: number;
  /** Pods enrolled one after another for the enrolment latency (inpod only). */
  enrolPods: number;
  /** The paths measured; haproxy only in the explicit topology. */
  withHaproxy: boolean;
  command: string;
}

export const USAGE = `usage: bash bench/ztunnel.sh [--topology explicit|inpod] [--quick] [--rounds N] [--no-haproxy] [--out FILE]
  --topology  explicit (default): two ztunnels on 127.0.0.1, load through node-a's SOCKS5 port (no root)
              inpod: pods in network namespaces, nftables REDIRECT to in-pod listeners (root)
  --quick     short durations, fewer idle connections and pods (harness validation; numbers mean nothing)
  --rounds N  repeat every measurement N times, interleaving the paths; the median is reported
  --idle-connections N  idle tunneled connections held for memory per connection (default 5000)
  --out FILE  where to write the markdown block (default bench/results/<topology>-<time>.md)`;

export function parseOptions(argv: readonly string[], root: string): ZtunnelBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      topology: { type: 'string', default: 'explicit' },
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      out: { type: 'string' },
      'no-haproxy': { type: 'boolean', default: false },
      'idle-connections': { type: 'string' },
      // The bundle (make build): ~40 MB less RSS than running the .ts sources.
      ztunnel: { type: 'string', default: `${root}/build/ztunnel.mjs` },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const topology = values.topology as Topology;
  if (!TOPOLOGIES.includes(topology)) throw new Error(`unknown topology ${topology}\n${USAGE}`);
  const quick = values.quick;
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9)
    throw new Error(`--rounds must be 1..9`);
  return Object.freeze({
    topology,
    quick,
    rounds,
    out: values.out,
    ztunnel: values.ztunnel,
    fixedRates: [1000, 2000],
    fixedSeconds: quick ? 2 : 10,
    fixedConnections: 16,
    fixedNewConnConnections: 64,
    maxRateSeconds: quick ? 2 : 10,
    maxRateConnections: 32,
    bulkSeconds: quick ? 1 : 5,
    warmupSeconds: quick ? 1 : 3,
    payloadBytes: 1024,
    idleConnections:
      values['idle-connections'] === undefined
        ? quick
          ? 500
          : 5000
        : Number(values['idle-connections']),
    enrolPods: quick ? 5 : 50,
    withHaproxy: topology === 'explicit' && !values['no-haproxy'],
    command: ['bash bench/ztunnel.sh', ...argv].join(' '),
  });
}
