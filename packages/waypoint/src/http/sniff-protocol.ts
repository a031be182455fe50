// Protocol detection on a tunneled connection: the HTTP/2 connection preface (prior knowledge,
// which is how gRPC and h2c clients start), an HTTP/1.x request line, or anything else (opaque
// TCP). The bytes read are put back for whoever handles the connection. A client that sends
// nothing within `timeoutMs` (a server-first protocol) is treated as TCP.

import type { Duplex } from 'node:stream';

export type SniffedProtocol = 'h2' | 'http1' | 'tcp';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const METHOD = /^[A-Z]{1,20} /;

/** Decides from the first bytes; undefined when more are needed. Pure. */
export function classify(buf: Buffer): SniffedProtocol | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n)))
    return n === H2_PREFACE.length ? 'h2' : undefined;
  const head = buf.subarray(0, 22).toString('latin1');
  if (METHOD.test(head)) return 'http1';
  if (/^[A-Z]*$/.test(head) && head.length < 21) return undefined;
  return 'tcp';
}

export function sniffProtocol(s: Duplex, timeoutMs: number): Promise<SniffedProtocol> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const finish = (p: SniffedProtocol): void => {
      clearTimeout(timer);
      s.off('readable', onReadable);
      s.off('end', onEnd);
      s.off('error', onEnd);
      if (buf.length > 0) s.unshift(buf);
      resolve(p);
    };
    const onEnd = (): void => finish('tcp');
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = s.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const p = classify(buf);
        if (p !== undefined) {
          finish(p);
          return;
        }
      }
    };
    const timer = setTimeout(() => finish('tcp'), timeoutMs);
    s.on('readable', onReadable);
    s.once('end', onEnd);
    s.once('error', onEnd);
  });
}
