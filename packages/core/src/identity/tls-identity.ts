import type { SpiffeId } from './spiffe-id.ts';

/** What one workload presents in mTLS. All PEM strings. */
export interface TlsIdentity {
  id: SpiffeId;
  /** PKCS#8 PEM private key (ECDSA P-256). */
  key: string;
  /** PEM: leaf first, then intermediates (not the root). */
  certChain: string;
  /** PEM bundle of trusted roots; may hold several (root rotation). */
  roots: string;
  notBefore: Date;
  notAfter: Date;
}
