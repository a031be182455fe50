// Endpoint choice for a service: locality first, then the power of two choices on live load.
// Pure; the caller provides the load and (in tests) the random source.

import type { Workload } from '@ambit/core/mesh/types';
import type { ResolvedEndpoint } from '../state/mesh-snapshot.ts';

export interface PickOptions {
  /** Uniform in [0, 1). Default Math.random; tests pass a fixed sequence. */
  random?: () => number;
  /** Live connections this ztunnel has to an endpoint (default: 0 for all). */
  activeConnections?: (endpoint: Workload) => number;
}

/** 0 same node, 1 same zone, 2 same region, 3 elsewhere or unknown. */
export function localityRank(source: Workload, dest: Workload): number {
  if (dest.node === source.node) return 0;
  const a = source.locality;
  const b = dest.locality;
  if (a === undefined || b === undefined || a.region === '' || a.region !== b.region) return 3;
  return a.zone !== '' && a.zone === b.zone ? 1 : 2;
}

/**
 * Picks among `candidates` (already filtered to healthy ones): keeps only the best locality tier,
 * then compares two distinct random picks and takes the one with fewer live connections (the
 * first on a tie). Undefined when there is no candidate.
 */
export function pickEndpoint(
  candidates: readonly ResolvedEndpoint[],
  source: Workload,
  opts: PickOptions = {},
): ResolvedEndpoint | undefined {
  if (candidates.length === 0) return undefined;
  let best = 4;
  let tier: ResolvedEndpoint[] = [];
  for (const c of candidates) {
    const r = localityRank(source, c.workload);
    if (r < best) {
      best = r;
      tier = [c];
    } else if (r === best) {
      tier.push(c);
    }
  }
  if (tier.length === 1) return tier[0];
  const random = opts.random ?? Math.random;
  const n = tier.length;
  const i = Math.min(n - 1, Math.floor(random() * n));
  let j = Math.min(n - 2, Math.floor(random() * (n - 1)));
  if (j >= i) j += 1;
  const a = tier[i];
  const b = tier[j];
  if (a === undefined || b === undefined) return a ?? b;
  const load = opts.activeConnections ?? (() => 0);
  return load(b.workload) < load(a.workload) ? b : a;
}
