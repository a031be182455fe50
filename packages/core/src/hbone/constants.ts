// The numbers HBONE runs with, in one place (docs/hbone.md explains each).

/** HTTP/2 stream flow-control window we advertise: 4 MiB lets one stream fill a multi-Gbit/s link
 * (Node's 64 KiB default caps a stream near 2 Gbit/s on loopback). It is also the most one stream
 * buffers when its reader is slow. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

/** HTTP/2 connection-level window, shared by all streams of a session. */
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/** Largest DATA frame we accept; bigger frames mean fewer frame headers and callbacks for bulk. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Streams a server lets one client session open at once (the pool opens ~100 by default). */
export const SERVER_MAX_CONCURRENT_STREAMS = 1000;

/** Node caps what nghttp2 may hold per session (MB) and answers ENHANCE_YOUR_CALM above it; the
 * default (10 MB) is below one full connection window, so raise it. */
export const MAX_SESSION_MEMORY_MB = 64;

/** Incoming RST_STREAMs a server session absorbs before GOAWAY (nghttp2's rapid-reset limit, a
 * token bucket: this burst, refilled at STREAM_RESET_RATE per second). nghttp2's default (1000,
 * 33/s) suits an open HTTP server; an HBONE peer is an authenticated mesh node whose RST_STREAMs
 * relay its applications' TCP resets, and one GOAWAY drops every connection on the session. */
export const STREAM_RESET_BURST = 10_000;
export const STREAM_RESET_RATE = 1_000;

/** Streams per pooled client session before the pool opens another. */
export const DEFAULT_MAX_STREAMS_PER_SESSION = 100;

/** TCP + TLS + first SETTINGS must finish within this. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Server-side TLS handshake limit. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A session with no streams for this long is closed (client pool and server). */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

/** H2 PING period; a PING not answered before the next one is due kills the session. */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** The ALPN protocol id HBONE negotiates. */
export const ALPN_H2 = 'h2';
