// RequestMirror: a copy of the request goes to another backend and its response is discarded.
// Only requests without a body are mirrored (a streamed body cannot be sent twice without
// buffering it; Envoy buffers, Ambit counts them as skipped instead).

import type { Handler, Layer } from '../http/types.ts';

/** `send` is the bottom of the stack (balance → endpoint), used for the copies. */
export function mirror(
  send: Handler,
  onMirror: (outcome: 'sent' | 'skipped') => void,
  random: () => number = Math.random,
): Layer {
  return (next) => (req) => {
    const plan = req.plan;
    if (plan?.kind === 'forward' && plan.mirrors.length > 0) {
      for (const m of plan.mirrors) {
        if (random() * 100 >= m.percent) continue;
        if (req.body !== undefined || req.upgrade) {
          onMirror('skipped');
          continue;
        }
        onMirror('sent');
        const copy = {
          ...req,
          authority: `${req.authority.replace(/:\d+$/, '')}-shadow`,
          plan: { ...plan, upstream: m.target, mirrors: [] },
          notes: { retries: 0, retriesDenied: 0 },
          signal: AbortSignal.timeout(30_000),
        };
        send(copy).then(
          (r) => r.body?.resume(),
          () => {},
        );
      }
    }
    return next(req);
  };
}
