import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { InvalidSpiffeIdError, PeerIdentityError } from '../errors.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';
import { uriSans } from './uri-sans.ts';

/**
 * The SPIFFE ID of a TLS peer: its certificate's single URI SAN. Throws PeerIdentityError
 * (AMBIT_PEER_IDENTITY) when there is none (including no certificate at all), several, or it is not a
 * valid SPIFFE ID. Other SAN types are ignored. This reads the identity; trust in the chain is
 * the TLS handshake's job (`requestCert` + `rejectUnauthorized`).
 */
export function spiffeIdFromPeerCertificate(cert: PeerCertificate | X509Certificate): SpiffeId {
  const sanText = cert instanceof X509Certificate ? cert.subjectAltName : cert.subjectaltname;
  const uris = uriSans(sanText);
  if (uris.length === 0) {
    throw new PeerIdentityError('peer certificate has no URI SAN (no SPIFFE identity)');
  }
  if (uris.length > 1) {
    throw new PeerIdentityError(
      `peer certificate has ${uris.length} URI SANs; a workload certificate must carry exactly one`,
    );
  }
  const uri = uris[0] ?? '';
  try {
    return parseSpiffeId(uri).id;
  } catch (err) {
    if (err instanceof InvalidSpiffeIdError) {
      throw new PeerIdentityError(`peer certificate URI SAN is not a SPIFFE ID: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}
