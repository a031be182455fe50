// What GET /config_dump shows: where the config comes from and how that is going, the mesh
// snapshot in force (workloads, services, policies, mesh settings), the certificates ztunnel
// holds (never their keys) and how many connections are live.

import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { MeshSnapshot } from '../state/mesh-snapshot.ts';

/** The config source's state, as the source reports it. */
export interface ConfigSourceStatus {
  /** "controller" (config stream) or "local-file". */
  kind: string;
  /** The controller's address or the file's path. */
  location?: string;
  connected: boolean;
  lastUpdateMs?: number;
  /** The last error kept the last good config in force. */
  lastError?: { code?: string; message: string; atMs?: number };
  /** Resource versions by type (config stream). */
  versions?: Readonly<Record<string, string>>;
}

export interface ConfigDumpProviders {
  configSource: () => ConfigSourceStatus;
  snapshot: () => MeshSnapshot;
  certificates: () => readonly TlsIdentity[];
  liveConnections: () => number;
  now?: () => number;
}

export interface CertificateSummary {
  identity: string;
  notBefore: string;
  notAfter: string;
  secondsToExpiry: number;
  /** Certificates in the chain (leaf + intermediates). */
  chainLength: number;
}

export function summarizeCertificate(t: TlsIdentity, nowMs: number): CertificateSummary {
  return {
    identity: t.id,
    notBefore: t.notBefore.toISOString(),
    notAfter: t.notAfter.toISOString(),
    secondsToExpiry: Math.floor((t.notAfter.getTime() - nowMs) / 1000),
    chainLength: t.certChain.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0,
  };
}

export function buildConfigDump(p: ConfigDumpProviders): Record<string, unknown> {
  const now = (p.now ?? Date.now)();
  const s = p.snapshot();
  return {
    time: new Date(now).toISOString(),
    configSource: p.configSource(),
    mesh: {
      generation: s.generation,
      meshConfig: s.mesh,
      workloads: [...s.workloads.values()],
      services: [...s.services.values()],
      policies: [...s.policies.values()],
    },
    certificates: p.certificates().map((c) => summarizeCertificate(c, now)),
    liveConnections: p.liveConnections(),
  };
}
