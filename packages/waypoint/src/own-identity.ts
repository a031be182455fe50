// The waypoint's own certificate: read once from files (development), or requested from the
// controller's CA with the pod's ServiceAccount token and renewed at half-life (CertManager);
// each renewal is handed to `onRotate` (new handshakes use it, live ones keep theirs).

import { readFile } from 'node:fs/promises';
import { CaClient } from '@ambit/core/ca-service/client';
import { readIdentityFiles } from '@ambit/core/hbone/identity-files';
import { CertManager } from '@ambit/core/identity/cert-manager';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { TlsIdentity } from '@ambit/core/identity/tls-identity';
import type { IdentityOrigin } from './config.ts';

export interface OwnIdentity {
  identity: TlsIdentity;
  close(): void;
}

export async function loadOwnIdentity(opts: {
  origin: IdentityOrigin;
  controllerServerId?: SpiffeId;
  onRotate(identity: TlsIdentity): void;
  /** A CA request failed; the next one is in `retryInMs`. */
  onError(err: Error, retryInMs: number): void;
  signal?: AbortSignal;
}): Promise<OwnIdentity> {
  const o = opts.origin;
  if (o.kind === 'files')
    return { identity: await readIdentityFiles(o.dir, o.name), close: () => {} };
  const client = new CaClient({
    host: o.address.host,
    port: o.address.port,
    rootsPem: await readFile(o.rootsPath, 'utf8'),
    token: { file: o.tokenPath },
    ...(opts.controllerServerId && { serverId: opts.controllerServerId }),
  });
  const certs = new CertManager({ issuer: client.issuer });
  certs.on('rotated', (_id, identity) => opts.onRotate(identity));
  certs.on('failed', (_id, err, retryInMs) => opts.onError(err, retryInMs));
  // Until the first certificate arrives, wait for CertManager's own scheduled retries.
  for (let delay = 1000; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      return { identity: await certs.get(o.id), close: () => certs.close() };
    } catch (err) {
      if (opts.signal?.aborted) {
        certs.close();
        throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
