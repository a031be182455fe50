// PeerAuthentication → MeshConfig. In `ambit-system` a PeerAuthentication sets the mesh default;
// elsewhere it sets its namespace's mode. One per namespace counts: CEL cannot compare objects,
// so the API server cannot refuse a second one; the oldest (creationTimestamp, then name) wins
// and the others get Accepted=False, reason Conflicted. `spec.mtls.mode` unset means "inherit":
// the mesh default (PERMISSIVE in ambit-system).

import type { MeshConfig, MtlsMode } from '@ambit/core/mesh/types';
import { kubeTimeMs, type PeerAuthentication } from './cluster-state.ts';
import { SYSTEM_NAMESPACE } from './names.ts';
import type { StatusReport } from './translation.ts';

export interface MeshConfigTranslation {
  meshConfig: MeshConfig;
  statuses: StatusReport[];
}

function byAge(a: PeerAuthentication, b: PeerAuthentication): number {
  const ta = kubeTimeMs(a.metadata?.creationTimestamp);
  const tb = kubeTimeMs(b.metadata?.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

export function translateMeshConfig(
  peerAuthentications: readonly PeerAuthentication[],
  opts: { trustDomain: string; rootsPem: string },
): MeshConfigTranslation {
  const statuses: StatusReport[] = [];
  const byNamespace = new Map<string, PeerAuthentication[]>();
  for (const pa of peerAuthentications) {
    const ns = pa.metadata?.namespace;
    if (ns === undefined || pa.metadata?.name === undefined) continue;
    const mode = pa.spec?.mtls?.mode;
    const gen =
      pa.metadata.generation === undefined ? {} : { observedGeneration: pa.metadata.generation };
    if (mode !== undefined && mode !== 'PERMISSIVE' && mode !== 'STRICT') {
      statuses.push({
        kind: 'PeerAuthentication',
        namespace: ns,
        name: pa.metadata.name,
        conditions: [
          {
            type: 'Accepted',
            status: 'False',
            reason: 'Invalid',
            message: `spec.mtls.mode ${JSON.stringify(mode)} is not PERMISSIVE or STRICT; ignored`,
            ...gen,
          },
        ],
      });
      continue;
    }
    const list = byNamespace.get(ns) ?? [];
    list.push(pa);
    byNamespace.set(ns, list);
  }

  let mtlsMode: MtlsMode = 'PERMISSIVE';
  const namespaceMtlsModes: Record<string, MtlsMode> = {};
  for (const [ns, list] of [...byNamespace.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    list.sort(byAge);
    list.forEach((pa, i) => {
      const name = pa.metadata?.name ?? '';
      const gen =
        pa.metadata?.generation === undefined ? {} : { observedGeneration: pa.metadata.generation };
      const mode = pa.spec?.mtls?.mode as MtlsMode | undefined;
      if (i === 0) {
        const scope = ns === SYSTEM_NAMESPACE ? 'the mesh default' : `namespace ${ns}`;
        if (ns === SYSTEM_NAMESPACE) mtlsMode = mode ?? 'PERMISSIVE';
        else if (mode !== undefined) namespaceMtlsModes[ns] = mode;
        statuses.push({
          kind: 'PeerAuthentication',
          namespace: ns,
          name,
          conditions: [
            {
              type: 'Accepted',
              status: 'True',
              reason: 'Accepted',
              message:
                mode === undefined
                  ? `${scope} inherits the mesh default`
                  : `mTLS mode ${mode} applies to ${scope}`,
              ...gen,
            },
          ],
        });
        return;
      }
      const winner = list[0]?.metadata?.name ?? '';
      statuses.push({
        kind: 'PeerAuthentication',
        namespace: ns,
        name,
        conditions: [
          {
            type: 'Accepted',
            status: 'False',
            reason: 'Conflicted',
            message: `namespace ${ns} already has the older PeerAuthentication ${winner}; only the oldest one applies, delete this one or that one`,
            ...gen,
          },
        ],
      });
    });
  }
  return {
    meshConfig: {
      trustDomain: opts.trustDomain,
      mtlsMode,
      namespaceMtlsModes,
      rootsPem: opts.rootsPem,
    },
    statuses,
  };
}
