// Reads an HTTP/1.1 response head off a raw stream (for Upgrade exchanges, which no client
// library hands over as a raw socket with the head intact). Bytes past the head are unshifted.

import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../http/types.ts';

const MAX_HEAD_BYTES = 64 * 1024;

export function readResponseHead(
  s: Duplex,
  signal: AbortSignal,
): Promise<{ status: number; headers: HeaderMap; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = (): void => {
      s.off('readable', onReadable);
      s.off('end', onEnd);
      s.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onEnd = (): void => fail(new Error('upstream closed before its response head'));
    const onError = (err: Error): void => fail(err);
    const onAbort = (): void => fail(signal.reason as Error);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = s.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          cleanup();
          const raw = buf.subarray(0, end + 4);
          const rest = buf.subarray(end + 4);
          if (rest.length > 0) s.unshift(rest);
          const lines = raw.toString('latin1').split('\r\n');
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
          if (!m) {
            reject(new Error(`bad response line ${JSON.stringify(lines[0])}`));
            return;
          }
          const headers: HeaderMap = {};
          for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
          }
          resolve({ status: Number(m[1]), headers, raw });
          return;
        }
        if (buf.length > MAX_HEAD_BYTES) {
          fail(new Error('upstream response head too large'));
          return;
        }
      }
    };
    s.on('readable', onReadable);
    s.once('end', onEnd);
    s.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    onReadable();
  });
}
