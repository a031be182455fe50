// A retry must send the body again, so the retry layer keeps a copy — bounded: the first
// `limit` bytes are buffered; a body that turns out longer is sent once, streamed, and that
// request is not retried. Nothing else in the waypoint buffers a body.

import { PassThrough, Readable } from 'node:stream';

export type Replayable =
  { kind: 'buffered'; chunks: Buffer[] } | { kind: 'too-large'; body: Readable };

/** Reads up to `limit` bytes of `body`; resolves once it ended or overflowed. */
export function bufferUpTo(body: Readable, limit: number): Promise<Replayable> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        cleanup();
        body.pause();
        // What was read goes first, then the rest of the stream.
        const rest = new PassThrough();
        for (const ch of chunks) rest.write(ch);
        body.pipe(rest);
        body.once('error', (e) => rest.destroy(e));
        resolve({ kind: 'too-large', body: rest });
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ kind: 'buffered', chunks });
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

export function replay(chunks: readonly Buffer[]): Readable {
  return Readable.from(chunks, { objectMode: false });
}
