// The `Route` resource of the config stream (DESIGN.md "Config stream"): a Gateway API HTTPRoute
// bound to Services through `parentRefs` of kind Service (the GAMMA pattern), as the waypoint
// consumes it. The controller builds it (packages/controller/src/translate/translate-routes.ts),
// resolving defaults and dropping what it could not accept, so the waypoint never re-validates
// Kubernetes semantics: every field here is final.

import type { ServiceKey } from './types.ts';

/**
 * A path match. `PathPrefix` matches whole path elements (`/foo` matches `/foo` and `/foo/bar`,
 * not `/foobar`); `RegularExpression` is an ECMAScript (`u` flag) regular expression that must
 * match the whole path.
 */
export interface RoutePathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}

/** A header or query parameter match; header names are lower case, query names case-sensitive. */
export interface RouteValueMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

/** One match: every set field must hold (AND). A rule's matches are ORed. */
export interface RouteMatch {
  path: RoutePathMatch;
  headers?: readonly RouteValueMatch[];
  queryParams?: readonly RouteValueMatch[];
  /** Upper-case HTTP method. */
  method?: string;
}

export interface RouteHeaderModifier {
  /** Replace (or add) these headers. Names lower case. */
  set?: readonly { name: string; value: string }[];
  /** Append these values. */
  add?: readonly { name: string; value: string }[];
  /** Remove these header names. */
  remove?: readonly string[];
}

export type RoutePathModifier =
  | { type: 'ReplaceFullPath'; replaceFullPath: string }
  | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };

export type RouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: RouteHeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: RouteHeaderModifier }
  | { type: 'URLRewrite'; urlRewrite: { hostname?: string; path?: RoutePathModifier } }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        scheme?: 'http' | 'https';
        hostname?: string;
        path?: RoutePathModifier;
        port?: number;
        /** 301 or 302 (default 302). */
        statusCode: 301 | 302 | 303 | 307 | 308;
      };
    }
  | {
      type: 'RequestMirror';
      /** A copy of each request (the response is discarded) goes to this backend; `percent` 0–100 of requests. */
      requestMirror: { service: ServiceKey; port: number; percent: number };
    };

/**
 * Where a share of a rule's traffic goes. An `invalid` backend (not found, wrong kind, no port)
 * keeps its weight: requests that pick it get HTTP 500, as Gateway API requires.
 */
export type RouteBackend =
  | {
      kind: 'service';
      service: ServiceKey;
      /** `<name>.<namespace>.svc.<cluster domain>` of the backend Service. */
      hostname: string;
      port: number;
      /** Relative weight, ≥ 0; 0 sends nothing. */
      weight: number;
      /** Filters that apply only to requests sent to this backend. */
      filters?: readonly RouteFilter[];
    }
  | { kind: 'invalid'; reason: string; weight: number };

export interface RouteRetry {
  /** Attempts after the first one. */
  attempts: number;
  /** HTTP status codes that are retried (connection errors always are). */
  codes: readonly number[];
  /** Wait before each retry, in milliseconds (0: none). */
  backoffMs: number;
}

export interface RouteRule {
  /** Gateway API rule name, when set. */
  name?: string;
  /** ORed. Never empty: a rule without matches gets `[{ path: { type: 'PathPrefix', value: '/' } }]`. */
  matches: readonly RouteMatch[];
  filters: readonly RouteFilter[];
  /**
   * Weighted choice among these. Empty when a RequestRedirect filter answers the requests;
   * otherwise an empty list (or a total weight of 0) means every request gets HTTP 500.
   */
  backends: readonly RouteBackend[];
  /** Milliseconds; absent means no timeout. */
  timeouts?: { requestMs?: number; backendRequestMs?: number };
  retry?: RouteRetry;
}

/** One parent a route is bound to: a Service, optionally only one of its ports. */
export interface RouteParent {
  service: ServiceKey;
  port?: number;
}

/**
 * An HTTPRoute as waypoints consume it. Key `namespace/name`. Precedence between routes of one
 * Service follows Gateway API: older `createdAt` first, then `namespace/name` alphabetically.
 * (A `type`, not an `interface`, so that it is assignable to the stream's `WireRoute`.)
 */
export type Route = {
  name: string;
  namespace: string;
  /** RFC 3339 creation time of the HTTPRoute (for precedence). */
  createdAt: string;
  parents: readonly RouteParent[];
  rules: readonly RouteRule[];
};
