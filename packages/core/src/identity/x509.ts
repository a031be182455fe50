// The one place that prepares @peculiar/x509: it needs `reflect-metadata` loaded before it and a
// WebCrypto provider. Every identity module imports `x509` from here, never from the package.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

// The project compiles without the DOM lib, so the WebCrypto types come from node:crypto.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
type ProviderCrypto = Parameters<typeof x509.cryptoProvider.set>[0];

x509.cryptoProvider.set(webcrypto as unknown as ProviderCrypto);

export { x509 };

/** ECDSA P-256 with SHA-256: the algorithm of every key and signature Ambit makes itself. */
export const P256_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
