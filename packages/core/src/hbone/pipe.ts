import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface PipeResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  /** Bytes read from `b` and written to `a`. */
  bToA: number;
  /** Set when a side errored or closed before finishing both directions; both sides were reset. */
  error?: Error;
}

/** A Node HTTP/2 stream, recognised without importing its (unexported) class. */
interface H2StreamLike extends Duplex {
  rstCode?: number;
  close(code?: number, cb?: () => void): void;
}

function isH2Stream(d: Duplex): d is H2StreamLike {
  return 'rstCode' in d && typeof (d as Partial<H2StreamLike>).close === 'function';
}

/**
 * Aborts one side the way its protocol spells "the other side failed" (RFC 9113 §8.5): a TCP
 * socket gets a TCP RST; an HTTP/2 stream gets RST_STREAM. The RFC suggests the code CONNECT_ERROR,
 * but Node's `stream.close(code)` sends END_STREAM before the RST_STREAM, which a peer would first
 * read as a clean half-close; `destroy(err)` sends only RST_STREAM(INTERNAL_ERROR), so that is what
 * Ambit sends. Receivers treat any RST_STREAM as a reset. Anything else is destroyed.
 */
export function resetDuplex(d: Duplex, error?: Error): void {
  if (d.destroyed) return;
  if (d instanceof Socket && !d.connecting) {
    try {
      d.resetAndDestroy();
      return;
    } catch {
      // No handle left to reset: plain destroy below.
    }
  }
  d.destroy(error ?? new Error('reset by the other side of the tunnel'));
}

/**
 * Lets go of a side whose both directions ended cleanly. An HTTP/2 stream is left to close by
 * itself: our END_STREAM may still be queued in nghttp2 (`end()` reports 'finish' before the frame
 * is on the wire), and `destroy()` would add RST_STREAM(NO_ERROR) after it. That reset is not only
 * noise: a server counts every RST_STREAM it receives against its rapid-reset limit (nghttp2: a
 * burst of 1000, then 33/s) and kills the whole session with GOAWAY past it — with every other
 * connection on it. Node closes and destroys the stream once both END_STREAMs are exchanged.
 * Anything else (a TCP socket that has sent and received FIN) is destroyed.
 */
function releaseClean(d: Duplex): void {
  if (d.destroyed || isH2Stream(d)) return;
  d.destroy();
}

/**
 * Pipes two Duplexes both ways.
 * - Backpressure: a side is paused while the other's write buffer is above its high-water mark, so
 *   at most one high-water mark (plus the HTTP/2 window, for a stream) is buffered per direction.
 * - Half-close: `end` on one side becomes `end()` (FIN / END_STREAM) on the other; the opposite
 *   direction keeps flowing.
 * - Reset: an error, or a close before both directions finished, resets the other side
 *   (resetDuplex) and resolves with `error`. Never rejects; never leaves an 'error' unhandled.
 * - Clean end: nothing is reset; HTTP/2 streams close by themselves (releaseClean).
 * Resolves once both directions are done or the pair was torn down.
 */
export function pipeBidirectional(a: Duplex, b: Duplex): Promise<PipeResult> {
  return new Promise((resolve) => {
    const result: PipeResult = { aToB: 0, bToA: 0 };
    let settled = false;
    let doneDirections = 0;

    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      if (error) {
        result.error = error;
        resetDuplex(a, error);
        resetDuplex(b, error);
      } else {
        // Both directions ended cleanly: release what is left, gently (releaseClean).
        releaseClean(a);
        releaseClean(b);
      }
      resolve(result);
    };

    const pump = (src: Duplex, dst: Duplex, count: (n: number) => void): void => {
      src.on('data', (chunk: Buffer) => {
        count(chunk.length);
        if (!dst.write(chunk)) src.pause();
      });
      dst.on('drain', () => src.resume());
      src.once('end', () => {
        // FIN / END_STREAM → end() on the other side; the direction is done once it is flushed.
        dst.end((err?: Error | null) => {
          if (err) {
            finish(err);
            return;
          }
          doneDirections += 1;
          if (doneDirections === 2) finish();
        });
      });
    };

    const watch = (s: Duplex, name: string): void => {
      s.on('error', (err: Error) => finish(err));
      // Node signals a peer's RST_STREAM on a stream we still write to with 'aborted' (and may
      // still emit 'end' after it when the code was NO_ERROR): it is a reset, never a half-close.
      if (isH2Stream(s)) {
        s.once('aborted', () =>
          finish(new Error(`${name}: peer reset the stream (RST_STREAM code ${s.rstCode ?? '?'})`)),
        );
      }
      s.once('close', () => {
        if (settled) return;
        if (s.readableEnded && s.writableFinished) return; // clean; the other side finishes us
        const rst = isH2Stream(s) && s.rstCode ? ` (RST_STREAM code ${s.rstCode})` : '';
        finish(new Error(`${name} closed before both directions finished${rst}`));
      });
    };

    watch(a, 'a');
    watch(b, 'b');
    pump(a, b, (n) => (result.aToB += n));
    pump(b, a, (n) => (result.bToA += n));
  });
}
