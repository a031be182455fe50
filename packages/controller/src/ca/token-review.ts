// ServiceAccount token → who is calling, through the API server's TokenReview (the only authority
// on its own tokens: signature, expiry, audience, and for bound tokens that the pod still exists).
// Bound (projected) tokens carry the pod they were issued for in `user.extra`; that is how the CA
// learns the caller's pod and node.

import { createHash } from 'node:crypto';
import type { AuthenticationV1Api } from '@kubernetes/client-node';

/** The audience every Ambit data plane's projected token is issued for (CA and config stream). */
export const CA_AUDIENCE = 'ambit-ca';

const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
const NODE_NAME = 'authentication.kubernetes.io/node-name';

/** An authenticated ServiceAccount token. */
export interface ReviewedToken {
  namespace: string;
  serviceAccount: string;
  /** The pod a bound token was issued for (absent for tokens not bound to a pod). */
  pod?: { name: string; uid?: string; node?: string };
}

export type TokenReviewResult = { ok: true; token: ReviewedToken } | { ok: false; reason: string };

export type TokenReviewer = (token: string) => Promise<TokenReviewResult>;

export interface TokenReviewerOptions {
  audience?: string;
  /** How long a verdict is reused for the same token (default 10 s; 0 turns caching off). */
  cacheMs?: number;
  /** Most verdicts cached (default 10,000). */
  maxCached?: number;
  now?: () => number;
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

function first(extra: Record<string, string[]> | undefined, key: string): string | undefined {
  const v = extra?.[key]?.[0];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * A TokenReview client with a short verdict cache (a ztunnel asks for several identities at once
 * with one token). Rejects (→ 500, which clients retry) only when the API server cannot answer.
 */
export function createTokenReviewer(
  authn: AuthenticationV1Api,
  opts: TokenReviewerOptions = {},
): TokenReviewer {
  const audience = opts.audience ?? CA_AUDIENCE;
  const cacheMs = opts.cacheMs ?? 10_000;
  const maxCached = opts.maxCached ?? 10_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; result: TokenReviewResult }>();

  return async (token) => {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = cache.get(key);
    if (hit !== undefined && now() - hit.at < cacheMs) return hit.result;
    const review = await authn.createTokenReview({
      body: { spec: { token, audiences: [audience] } },
    });
    const s = review.status;
    let result: TokenReviewResult;
    const m = SA_USER.exec(s?.user?.username ?? '');
    if (s?.authenticated !== true) {
      result = {
        ok: false,
        reason: `the token is not valid for audience ${audience}: ${s?.error ?? 'not authenticated'}`,
      };
    } else if (s.audiences !== undefined && !s.audiences.includes(audience)) {
      result = { ok: false, reason: `the token is not for audience ${audience}` };
    } else if (m === null) {
      result = {
        ok: false,
        reason: `${s.user?.username ?? 'the caller'} is not a ServiceAccount; use a projected ServiceAccount token`,
      };
    } else {
      const extra = s.user?.extra;
      const podName = first(extra, POD_NAME);
      const podUid = first(extra, POD_UID);
      const node = first(extra, NODE_NAME);
      result = {
        ok: true,
        token: {
          namespace: m[1] ?? '',
          serviceAccount: m[2] ?? '',
          ...(podName !== undefined && {
            pod: {
              name: podName,
              ...(podUid !== undefined && { uid: podUid }),
              ...(node !== undefined && { node }),
            },
          }),
        },
      };
    }
    if (cacheMs > 0) {
      if (cache.size >= maxCached) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      cache.set(key, { at: now(), result });
    }
    return result;
  };
}
