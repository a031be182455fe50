// What a topology gives the measurement loop: for each path, how the load tool runs and what it
// targets, and which proxy processes to account for.
import type { ClientContext } from './load.ts';
import type { PathName } from './report.ts';

export interface BenchPath {
  name: PathName;
  client: ClientContext;
  /** The echo URL (fortio server `/echo`: the response body is the request body). */
  url: string;
  /** One-connection throughput: iperf3 to a host:port, or fortio fetching a large body. */
  bulk: { kind: 'iperf3'; host: string; port: number } | { kind: 'fortio'; url: string };
  /** Maximum rates: wrk (native client) or fortio's Go client (when the path needs a proxy). */
  maxRateTool: 'wrk' | 'fortio';
  /** The proxy processes, client side (node-a) and server side (node-b). */
  proxies?: { client: number; server: number };
}

export interface BenchTopology {
  paths: BenchPath[];
  /** Opens `n` idle connections through the ztunnel path, each reaching the sink; resolves with a stop function. */
  holdIdle(n: number): Promise<() => Promise<void>>;
  /** Before/after check that the ztunnel path's traffic really went through ztunnel. */
  tunneledConnections(): Promise<number>;
  /** Lines for the report: the connection path of each load tool and what was set. */
  describe(): string[];
  close(): Promise<void>;
}
