// The waypoint's local config file (development): ztunnel's format (docs/ztunnel-config.md —
// mesh, workloads, services, policies; parsed by ztunnel's own parser so both read one file the
// same way) plus a `routes:` list of Routes in the config stream's shape (route-types.ts).

import { readFile } from 'node:fs/promises';
import { parseDocument, stringify } from 'yaml';
import { LocalConfigError } from '@ambit/core/errors';
import type { Route } from '@ambit/core/mesh/route-types';
import { parseLocalConfig } from '@ambit/ztunnel/local-config';
import { decodeRoute } from './decode-route.ts';
import type { MeshResources } from './waypoint-snapshot.ts';

export function parseWaypointConfig(
  text: string,
  fileName = 'config',
): { resources: MeshResources; routes: Route[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const root: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  if (root === null || typeof root !== 'object' || Array.isArray(root))
    return { resources: parseLocalConfig(text, fileName), routes: [] };
  const { routes, ...rest } = root as Record<string, unknown>;
  if (routes !== undefined && !Array.isArray(routes))
    throw new LocalConfigError(`${fileName}: routes: must be a list`);
  return {
    resources: parseLocalConfig(stringify(rest), fileName),
    routes: (routes ?? []).map((r, i) => decodeRoute(r, `${fileName}: routes[${i}]`)),
  };
}

/** The file's text; LocalConfigError when it cannot be read. */
export async function readWaypointConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new LocalConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function loadWaypointConfig(
  path: string,
): Promise<{ resources: MeshResources; routes: Route[] }> {
  return parseWaypointConfig(await readWaypointConfigText(path), path);
}
