import { constants as h2, type IncomingHttpHeaders } from 'node:http2';
import { HboneBadRequestError } from '../errors.ts';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { parseAuthority } from './authority.ts';
import type { ServerSessionInfo } from './server-session.ts';

/** Everything the server's authorize and dial phases know about one CONNECT. */
export interface HboneRequestContext {
  /** Verified client identity (chain, trust domain and URI SAN checked at the handshake). */
  peerId: SpiffeId;
  /** Parsed :authority (IPv4, IPv6 without brackets, or hostname). */
  target: { host: string; port: number };
  /** Raw :authority as received. */
  authority: string;
  forwarded?: string;
  baggage?: string;
  traceparent?: string;
  /** TCP peer of the HBONE connection. */
  remote: { address: string; port: number };
  /** Where we accepted it. */
  local: { address: string; port: number };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Phase 1 of an inbound stream: CONNECT + valid :authority, or HboneBadRequestError (400). */
export function buildRequestContext(
  session: ServerSessionInfo,
  headers: IncomingHttpHeaders,
): HboneRequestContext {
  const method = headers[h2.HTTP2_HEADER_METHOD];
  if (method !== 'CONNECT') {
    throw new HboneBadRequestError(`method ${String(method)} is not CONNECT`);
  }
  if (headers[':protocol'] !== undefined) {
    throw new HboneBadRequestError('extended CONNECT (:protocol) is not HBONE');
  }
  const authority = single(headers[h2.HTTP2_HEADER_AUTHORITY]);
  const target = parseAuthority(authority);
  const ctx: HboneRequestContext = {
    peerId: session.peerId,
    target,
    authority: authority ?? '',
    remote: session.remote,
    local: session.local,
  };
  const forwarded = single(headers.forwarded);
  const baggage = single(headers.baggage);
  const traceparent = single(headers.traceparent);
  if (forwarded !== undefined) ctx.forwarded = forwarded;
  if (baggage !== undefined) ctx.baggage = baggage;
  if (traceparent !== undefined) ctx.traceparent = traceparent;
  return ctx;
}
