// The waypoint's request model. HTTP/1.1 and HTTP/2 requests are normalised into one
// ProxyRequest at the edge (downstream-*.ts); every layer is a `(next) => handler` over it
// (STYLE.md: L7 features are layers), and the edge writes the ProxyResponse back in the
// client's protocol. Layers never write error responses: they throw WaypointHttpErrors, which
// the rescue layer alone turns into responses.

import type { Duplex, Readable } from 'node:stream';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { Service, Workload } from '@ambit/core/mesh/types';
import type { RoutePlan } from '../routing/plan-request.ts';
import type { WaypointSnapshot } from '../state/waypoint-snapshot.ts';

/** Header map: lower-case names, no pseudo-headers, no hop-by-hop headers. */
export type HeaderMap = Record<string, string | string[]>;

/** What the HBONE tunnel told us about the client and the original destination. */
export interface ConnectionInfo {
  /** The verified identity of the HBONE client (the source workload's). */
  peerId: SpiffeId;
  /** The client's workload, if the mesh knows its address. */
  source: Workload | undefined;
  /** The TCP peer address the source's traffic came from (source.ip in policies). */
  sourceIp: string;
  /** The original destination named by :authority: a service VIP or a workload IP, and port. */
  target: RequestTarget;
  /** `forwarded` / `baggage` headers of the CONNECT, passed on to upstream tunnels. */
  forwarded?: string;
  baggage?: string;
}

export type RequestTarget =
  | { kind: 'service'; service: Service; ip: string; port: number }
  | { kind: 'workload'; workload: Workload; ip: string; port: number };

/** One request as the layers see it. Fields marked mutable are set by layers on the way in. */
export interface ProxyRequest {
  method: string;
  /** Path with query string, as received (or as rewritten by URLRewrite). */
  path: string;
  /** The Host header or :authority. */
  authority: string;
  headers: HeaderMap;
  /** The body, or undefined when the request has none. */
  body: Readable | undefined;
  protocol: 'http1' | 'h2';
  /** Content-type application/grpc (HTTP/2 only). */
  grpc: boolean;
  conn: ConnectionInfo;
  /** The config the request is served with: taken once when it starts, so an update never changes a request half-way. */
  snapshot: WaypointSnapshot;
  /** Aborted when the downstream client goes away. */
  signal: AbortSignal;
  /** An HTTP/1.1 Upgrade (WebSocket...): the protocol asked for and the bytes read past the head. */
  upgrade?: { protocol: string; head: Buffer };
  /** Set by the route layer. */
  plan?: RoutePlan;
  /** Observability notes set by layers: the endpoint finally used, retries made. */
  notes: RequestNotes;
}

export interface RequestNotes {
  routeName?: string;
  /** The backend service (hostname) or workload the request went to. */
  destinationService?: Service;
  destinationWorkload?: Workload;
  /** Endpoint address `ip:port` of the last attempt. */
  upstreamHost?: string;
  /** Attempts after the first. */
  retries: number;
  /** Retries the budget refused. */
  retriesDenied: number;
  /** An Envoy-style flag set by a layer for a non-error outcome (e.g. URX: retries exhausted). */
  flag?: string;
}

export interface ProxyResponse {
  status: number;
  headers: HeaderMap;
  /** The body, or undefined for none. */
  body: Readable | undefined;
  /** HTTP/2 trailers (gRPC status), resolved after the body ended; undefined when none. */
  trailers?: Promise<HeaderMap | undefined>;
  /** Set by the rescue layer for synthetic responses. */
  flag?: string;
  /**
   * An upgrade the upstream answered: its raw response head (written to the client as is) and the
   * tunnel, piped to the client's socket from then on.
   */
  upgraded?: { rawHead: Buffer; stream: Duplex };
}

export type Handler = (req: ProxyRequest) => Promise<ProxyResponse>;
export type Layer = (next: Handler) => Handler;
