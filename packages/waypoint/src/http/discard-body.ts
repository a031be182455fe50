// Drops a response body we will not forward (a retried attempt, a late answer). A destroyed body may
// emit an error (an aborted response): it is expected here, so it is swallowed.

import type { Readable } from 'node:stream';

export function discardBody(body: Readable | undefined): void {
  if (body === undefined) return;
  body.on('error', () => {});
  body.destroy();
}
