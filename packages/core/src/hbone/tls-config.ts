import type { TlsOptions } from 'node:tls';
import type { TlsIdentity } from '../identity/tls-identity.ts';
import { ALPN_H2 } from './constants.ts';

/** TLS settings both HBONE ends share (the client builds the same into its SecureContext): TLS 1.3 only, ALPN h2, our identity, the mesh roots. */
function common(identity: TlsIdentity) {
  return {
    key: identity.key,
    cert: identity.certChain,
    ca: identity.roots,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: [ALPN_H2],
  } as const;
}

/** Server side: a client certificate chaining to our roots is required (the trust domain and
 * authorization are checked after the handshake, with the parsed SPIFFE ID). */
export function serverTlsOptions(identity: TlsIdentity): TlsOptions {
  return { ...common(identity), requestCert: true, rejectUnauthorized: true };
}
