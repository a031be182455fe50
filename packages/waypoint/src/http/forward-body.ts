// A response body to the client: `pipe` plus the teardown pipeline() would do, without its
// per-call AbortController, promise and end-of-stream watchers (measurable per request).
// Upstream fails mid-body → the client's response is destroyed (its connection or stream reset);
// the client goes away → the upstream body is destroyed (its tunnel closed).

import type { Readable, Writable } from 'node:stream';

export function forward(body: Readable, to: Writable): void {
  const onBodyError = (err: Error): void => {
    to.destroy(err);
  };
  const onClientGone = (): void => {
    if (!to.writableFinished) body.destroy();
  };
  body.once('error', onBodyError);
  body.once('close', () => {
    // Destroyed before its end: the client must not see a truncated body as complete.
    if (!body.readableEnded && !to.destroyed) to.destroy(new Error('upstream body aborted'));
  });
  to.once('close', onClientGone);
  to.on('error', () => {});
  body.pipe(to);
}
