// W3C trace context (https://www.w3.org/TR/trace-context/): keep the caller's trace id, make this
// hop a new span (new parent-id) and start a trace when the request has none or a malformed one.

import { randomFillSync } from 'node:crypto';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  /** This hop's span id, sent upstream as parent-id. */
  spanId: string;
  /** The header value to send upstream. */
  header: string;
}

// Random bytes come from one pooled buffer refilled 8 KiB at a time: one CSPRNG call per ~340
// requests instead of two (randomBytes also allocates a Buffer each time).
const pool = Buffer.allocUnsafe(8192);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}

export function nextTraceparent(incoming: string | string[] | undefined): TraceContext {
  const m = typeof incoming === 'string' ? TRACEPARENT.exec(incoming.trim()) : null;
  const valid = m !== null && m[1] !== 'ff' && !/^0+$/.test(m[2] ?? '') && !/^0+$/.test(m[3] ?? '');
  const traceId = valid ? (m[2] as string) : randomHex(16);
  const flags = valid ? (m[4] as string) : '01';
  const spanId = randomHex(8);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${flags}` };
}
