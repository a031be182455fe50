// The waypoint's one ConfigSource: a local YAML file (re-read every `pollIntervalMs` and applied
// when its text changed; a bad edit is reported and the last good config stays) or the controller's config stream (all five types;
// a refused update is NACKed).

import { readFile } from 'node:fs/promises';
import type { ConfigSource } from '@ambit/core/mesh/config-source';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import { connectConfigStream } from '@ambit/core/mesh/stream-client';
import { parseWaypointConfig, readWaypointConfigText } from './local-config.ts';
import type { WaypointState } from './waypoint-state.ts';

export type ConfigOrigin =
  | { kind: 'file'; path: string }
  | {
      kind: 'controller';
      address: { host: string; port: number };
      tokenPath: string;
      rootsPath: string;
      /** Check the controller's certificate by this SPIFFE ID instead of its DNS name. */
      serverId?: SpiffeId;
    };

export async function startConfigSource(opts: {
  origin: ConfigOrigin;
  name: string;
  state: WaypointState;
  onError(err: Error): void;
  pollIntervalMs?: number;
}): Promise<ConfigSource> {
  const o = opts.origin;
  if (o.kind === 'file') {
    let applied: string | undefined;
    const load = async (): Promise<void> => {
      const text = await readWaypointConfigText(o.path);
      // Unchanged: keep the snapshot, and with it everything cached per snapshot (endpoint
      // lists, policies, metric label sets) — a rebuild every poll showed up in profiles.
      if (text === applied) return;
      const c = parseWaypointConfig(text, o.path);
      opts.state.replace(c.resources, c.routes);
      applied = text;
    };
    await load(); // a bad file at start-up fails the process
    const timer = setInterval(
      () => void load().catch((e: Error) => opts.onError(e)),
      opts.pollIntervalMs ?? 2000,
    );
    timer.unref();
    return {
      reload: () => load().catch((e: Error) => opts.onError(e)),
      close: () => clearInterval(timer),
    };
  }
  const roots = await readFile(o.rootsPath, 'utf8');
  return connectConfigStream({
    address: o.address,
    roots,
    ...(o.serverId && { expectedServerId: o.serverId }),
    token: { file: o.tokenPath },
    node: opts.name,
    types: ['Workload', 'Service', 'Authorization', 'Route', 'MeshConfig'],
    apply: (update) => void opts.state.apply(update),
    onError: (e) => opts.onError(e),
  });
}
