// File mode's ClusterState: every *.yaml / *.yml in a directory (multi-document), sorted by kind
// into the lists translation reads. A Pod with no status is taken as running and ready (a demo
// manifest rarely writes one; give `status.podIP`, or it has no address and is left out); a
// missing uid becomes `<namespace>/<name>`; a missing namespace `default`. Unknown kinds are skipped.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ManifestError } from '@ambit/core/errors';
import { emptyClusterState, type ClusterState } from '../translate/cluster-state.ts';

type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown> & { name?: string; namespace?: string; uid?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

const CLUSTER_SCOPED = new Set(['Namespace', 'Node']);

const FIELD: Record<string, keyof ClusterState> = {
  Namespace: 'namespaces',
  Pod: 'pods',
  Service: 'services',
  EndpointSlice: 'endpointSlices',
  Node: 'nodes',
  Waypoint: 'waypoints',
  AuthorizationPolicy: 'authorizationPolicies',
  PeerAuthentication: 'peerAuthentications',
  HTTPRoute: 'httpRoutes',
};

function normalize(o: Obj): Obj {
  const metadata = { ...(o.metadata ?? {}) };
  if (!CLUSTER_SCOPED.has(o.kind ?? '')) metadata.namespace ??= 'default';
  metadata.uid ??= `${metadata.namespace ?? ''}/${metadata.name ?? ''}`;
  metadata.creationTimestamp ??= '1970-01-01T00:00:00Z';
  const out: Obj = { ...o, metadata };
  if (o.kind === 'Pod' && o.status === undefined) {
    out.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  }
  return out;
}

/** Parses one file's text (for tests). Throws ManifestError naming the file and document. */
export function parseManifests(text: string, file: string): Obj[] {
  const out: Obj[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new ManifestError(`${file} document ${i + 1}: ${doc.errors[0]?.message ?? 'bad YAML'}`);
    const o = doc.toJS() as Obj | null;
    if (o === null || o === undefined) return;
    if (
      typeof o !== 'object' ||
      typeof o.kind !== 'string' ||
      typeof o.metadata?.name !== 'string'
    ) {
      throw new ManifestError(
        `${file} document ${i + 1}: not a Kubernetes object (needs kind and metadata.name)`,
      );
    }
    out.push(o.kind === 'List' ? o : normalize(o));
  });
  return out;
}

/** Reads every manifest in `dir` (not recursive, dot-files skipped). Nothing is returned if one file is bad. */
export async function readManifestDir(dir: string): Promise<ClusterState> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort();
  } catch (err) {
    throw new ManifestError(
      `cannot read the manifests directory ${dir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const state = emptyClusterState() as { -readonly [K in keyof ClusterState]: unknown[] };
  for (const n of names) {
    const file = join(dir, n);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ManifestError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    for (const o of parseManifests(text, file)) {
      const items = o.kind === 'List' ? ((o as { items?: Obj[] }).items ?? []).map(normalize) : [o];
      for (const item of items) {
        const field = FIELD[item.kind ?? ''];
        if (field !== undefined) state[field].push(item);
      }
    }
  }
  return state as unknown as ClusterState;
}
