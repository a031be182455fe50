// Starts the config source the configuration names and feeds the MeshState: a watched local file,
// or the controller's config stream (each type's complete set replaces that type in the state; a
// refused update is NACKed and the last good config stays). Tracks the source's status for
// /config_dump and the config metrics.

import { readFile } from 'node:fs/promises';
import { LocalConfigError, MeshError } from '@ambit/core/errors';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { ConfigSource } from '@ambit/core/mesh/config-source';
import { connectConfigStream } from '@ambit/core/mesh/stream-client';
import type { ConfigSource as ConfigSourceConfig } from '../config.ts';
import type { ConfigSourceStatus } from '../admin/config-dump.ts';
import type { MeshState } from './mesh-state.ts';
import { watchLocalConfig } from './watch-local-config.ts';

export interface StartedConfigSource {
  source: ConfigSource;
  status(): ConfigSourceStatus;
}

export async function startConfigSource(opts: {
  config: ConfigSourceConfig;
  nodeName: string;
  state: MeshState;
  /** PEM roots the controller's certificate must chain to (controller mode). */
  controllerRootsFile: string;
  /** Check the controller's certificate by this SPIFFE ID instead of the DNS name dialled. */
  controllerServerId?: SpiffeId;
  onError(err: Error): void;
  onReload?(): void;
  pollIntervalMs?: number;
}): Promise<StartedConfigSource> {
  const c = opts.config;
  const st: ConfigSourceStatus = {
    kind: c.kind === 'file' ? 'local-file' : 'controller',
    connected: false,
  };
  const failed = (err: Error): void => {
    st.lastError = {
      ...(err instanceof MeshError && { code: err.code }),
      message: err.message,
      atMs: Date.now(),
    };
    opts.onError(err);
  };
  const applied = (): void => {
    st.connected = true;
    st.lastUpdateMs = Date.now();
    opts.onReload?.();
  };

  if (c.kind === 'file') {
    st.location = c.path;
    const watcher = await watchLocalConfig(c.path, opts.state, {
      onError: failed,
      onReload: applied,
      ...(opts.pollIntervalMs !== undefined && { pollIntervalMs: opts.pollIntervalMs }),
    });
    st.connected = true;
    st.lastUpdateMs = Date.now();
    return { source: watcher, status: () => ({ ...st }) };
  }

  st.location = `${c.address.host}:${c.address.port}`;
  let roots: string;
  try {
    roots = await readFile(opts.controllerRootsFile, 'utf8');
  } catch (err) {
    throw new LocalConfigError(
      `cannot read the mesh roots ${opts.controllerRootsFile} needed to trust the controller: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const stream = connectConfigStream({
    address: c.address,
    roots,
    token: { file: c.tokenPath },
    ...(opts.controllerServerId && { expectedServerId: opts.controllerServerId }),
    node: opts.nodeName,
    types: ['Workload', 'Service', 'Authorization', 'MeshConfig'],
    apply(update) {
      switch (update.type) {
        case 'Workload':
          opts.state.apply({
            type: update.type,
            full: true,
            resources: [...update.resources.values()],
            removed: [],
          });
          break;
        case 'Service':
          opts.state.apply({
            type: update.type,
            full: true,
            resources: [...update.resources.values()],
            removed: [],
          });
          break;
        case 'Authorization':
          opts.state.apply({
            type: update.type,
            full: true,
            resources: [...update.resources.values()],
            removed: [],
          });
          break;
        case 'MeshConfig':
          opts.state.apply({
            type: update.type,
            full: true,
            resources: [...update.resources.values()],
            removed: [],
          });
          break;
        case 'Route': // for waypoints; ztunnel does not subscribe
          break;
      }
    },
    onUpdate: applied,
    onError: failed,
  });
  return {
    source: stream,
    status: () => {
      const s = stream.state();
      return { ...st, connected: s.connected, versions: s.versions };
    },
  };
}
