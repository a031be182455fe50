import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import { HboneConnectError, HbonePeerIdentityError } from '../errors.ts';
import { spiffeIdFromPeerCertificate } from '../identity/peer-identity.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import {
  ALPN_H2,
  CONNECTION_WINDOW_BYTES,
  MAX_FRAME_BYTES,
  MAX_SESSION_MEMORY_MB,
  STREAM_WINDOW_BYTES,
} from './constants.ts';

export interface DialSessionRequest {
  address: { host: string; port: number };
  /** Bind the TCP socket to this local (source workload) address. */
  sourceAddress?: string;
  secureContext: SecureContext;
  expectedPeers: readonly SpiffeId[];
  createSocket(address: { host: string; port: number }, source: { sourceAddress?: string }): Socket;
  timeoutMs: number;
  /** Streams we assume the server allows until its SETTINGS say otherwise. */
  assumedMaxStreams: number;
}

export interface DialedSession {
  session: ClientHttp2Session;
  /** The server's verified identity (one of expectedPeers). */
  peerId: SpiffeId;
  tlsVersion: string;
  alpn: string;
}

const where = (a: { host: string; port: number }): string => `${a.host}:${a.port}`;

/**
 * Opens one HBONE client session: TCP (no Nagle) → TLS 1.3 with ALPN h2, chain checked against our
 * roots, server URI SAN checked against `expectedPeers` → HTTP/2 with large windows → first
 * SETTINGS from the server. Only then is the session ready; under TLS 1.3 a server refusing our
 * certificate is only seen here, after our side of the handshake finished.
 * Rejects with HbonePeerIdentityError or HboneConnectError (including the timeout).
 */
export function dialSession(req: DialSessionRequest): Promise<DialedSession> {
  return new Promise<DialedSession>((resolve, reject) => {
    const raw = req.createSocket(
      req.address,
      req.sourceAddress === undefined ? {} : { sourceAddress: req.sourceAddress },
    );
    raw.setNoDelay(true);
    const tls: TLSSocket = tlsConnect({
      socket: raw,
      secureContext: req.secureContext,
      ALPNProtocols: [ALPN_H2],
      rejectUnauthorized: true,
      // Hostname checks do not apply to workloads: the URI SAN is checked below.
      checkServerIdentity: () => undefined,
    });
    let session: ClientHttp2Session | undefined;
    let done = false;

    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (session) session.destroy();
      tls.destroy();
      raw.destroy();
      reject(err);
    };
    const failConnect = (err: Error): void =>
      fail(
        err instanceof HboneConnectError || err instanceof HbonePeerIdentityError
          ? err
          : new HboneConnectError(`HBONE connect to ${where(req.address)} failed: ${err.message}`, {
              cause: err,
            }),
      );
    const timer = setTimeout(() => {
      failConnect(
        new HboneConnectError(
          `HBONE connect to ${where(req.address)} timed out after ${req.timeoutMs} ms ` +
            `(is the port reachable, or is a NetworkPolicy blocking it?)`,
        ),
      );
    }, req.timeoutMs);

    tls.on('error', failConnect);
    tls.once('close', () => failConnect(new Error('connection closed during TLS handshake')));
    // The server closing TCP ends the session. Node's http2 ignores a bare EOF on a half-open
    // socket (a custom createSocket may hand us one), and under TLS 1.3 this EOF is how a server
    // that rejected our certificate usually answers.
    tls.once('end', () => {
      const err = new Error('server closed the connection (did it refuse our certificate?)');
      failConnect(err);
      if (session && !session.destroyed) session.destroy(new HboneConnectError(err.message));
    });
    tls.once('secureConnect', () => {
      if (tls.alpnProtocol !== ALPN_H2) {
        failConnect(new HboneConnectError(`${where(req.address)} did not negotiate ALPN h2`));
        return;
      }
      let peerId: SpiffeId;
      try {
        peerId = spiffeIdFromPeerCertificate(tls.getPeerCertificate());
      } catch (err) {
        fail(
          new HbonePeerIdentityError(
            `server ${where(req.address)} identity unreadable: ${(err as Error).message}`,
            { cause: err },
          ),
        );
        return;
      }
      if (!req.expectedPeers.includes(peerId)) {
        fail(
          new HbonePeerIdentityError(
            `server ${where(req.address)} is ${peerId}, expected ${req.expectedPeers.join(' or ')}`,
          ),
        );
        return;
      }
      const s = h2connect(`https://${where(req.address)}`, {
        createConnection: () => tls,
        maxSessionMemory: MAX_SESSION_MEMORY_MB,
        peerMaxConcurrentStreams: req.assumedMaxStreams,
        settings: {
          initialWindowSize: STREAM_WINDOW_BYTES,
          maxFrameSize: MAX_FRAME_BYTES,
          enablePush: false,
        },
      });
      session = s;
      s.on('error', failConnect);
      s.once('close', () => failConnect(new Error('session closed before the server SETTINGS')));
      s.once('connect', () => s.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
      s.once('remoteSettings', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        tls.off('error', failConnect);
        s.off('error', failConnect);
        resolve({
          session: s,
          peerId,
          tlsVersion: tls.getProtocol() ?? '',
          alpn: tls.alpnProtocol || '',
        });
      });
    });
  });
}
