import type { ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { HboneConnectError } from '../errors.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import { parseSpiffeId, type SpiffeId } from '../identity/spiffe-id.ts';

/** What the server knows about one accepted HBONE session, fixed at the handshake. */
export interface ServerSessionInfo {
  peerId: SpiffeId;
  remote: { address: string; port: number };
  local: { address: string; port: number };
}

/**
 * Reads and checks the client of a freshly accepted session: TLS 1.3 and ALPN h2 (already enforced
 * by the handshake), a single SPIFFE URI SAN, in our trust domain. The chain itself was verified by
 * the handshake (`requestCert` + `rejectUnauthorized`). Throws HboneConnectError when refused.
 */
export function inspectServerSession(
  session: ServerHttp2Session,
  trustDomain: string,
): ServerSessionInfo {
  const socket = session.socket as TLSSocket;
  if (!socket.authorized) {
    throw new HboneConnectError(
      `client certificate not trusted: ${String(socket.authorizationError)}`,
    );
  }
  let peerId: SpiffeId;
  try {
    peerId = spiffeIdFromPeerCertificate(socket.getPeerCertificate());
  } catch (err) {
    throw new HboneConnectError(`client identity unreadable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const peerDomain = parseSpiffeId(peerId).trustDomain;
  if (peerDomain !== trustDomain) {
    throw new HboneConnectError(
      `client ${peerId} is in trust domain ${peerDomain}, this server accepts only ${trustDomain}`,
    );
  }
  return {
    peerId,
    remote: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    local: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
  };
}
