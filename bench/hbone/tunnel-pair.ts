// A running tunnel pair (client-side proxy + server-side proxy) as the benchmark sees it.

export interface TunnelPair {
  /** Where the load tool connects: the client-side proxy's plain TCP listener on 127.0.0.1. */
  port: number;
  pids: { client: number; server: number };
}
