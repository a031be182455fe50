import { describe, expect, it } from 'vitest';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { authorizationFromSpec } from './from-spec.ts';
import { recheckConnections, type LiveConnection } from './recheck-connections.ts';

const web = { namespace: 'shop', labels: { app: 'web' } };
const db = { namespace: 'shop', labels: { app: 'db' } };

function conn(id: string, workload: typeof web, source: string | undefined, port = 8080) {
  return {
    conn: id,
    workload,
    request: {
      sourceId: source === undefined ? undefined : (`spiffe://${source}` as SpiffeId),
      sourceIp: '10.0.1.5',
      destinationIp: workload === web ? '10.0.2.7' : '10.0.2.8',
      destinationPort: port,
    },
  } satisfies LiveConnection<string>;
}

const live = [
  conn('sleep→web', web, 'cluster.local/ns/client/sa/sleep'),
  conn('curl→web', web, 'cluster.local/ns/client/sa/curl'),
  conn('plain→web', web, undefined),
  conn('curl→db', db, 'cluster.local/ns/client/sa/curl', 5432),
];

function policy(name: string, spec: unknown) {
  return authorizationFromSpec({
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace: 'shop' },
    spec,
  });
}

describe('recheckConnections', () => {
  it('returns nothing when no policy applies', () => {
    expect(recheckConnections(live, [])).toEqual([]);
  });

  it('returns the connections a new allow-list no longer admits, only for its workloads', () => {
    const allowSleep = policy('web-allow-sleep', {
      selector: { matchLabels: { app: 'web' } },
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/client/sa/sleep'] } }] }],
    });
    const denied = recheckConnections(live, [allowSleep]);
    expect(denied.map((d) => d.conn)).toEqual(['curl→web', 'plain→web']);
    expect(denied[0]?.decision.reason).toContain('shop/web-allow-sleep');
  });

  it('returns the connections a new DENY matches, with the policy', () => {
    const denyPlain = policy('deny-plaintext', {
      action: 'DENY',
      rules: [{ from: [{ source: { notPrincipals: ['*'] } }] }],
    });
    const denied = recheckConnections(live, [denyPlain]);
    expect(denied).toEqual([
      {
        conn: 'plain→web',
        decision: {
          allowed: false,
          reason: 'denied by DENY policy shop/deny-plaintext (rule 0)',
          policy: 'shop/deny-plaintext',
        },
      },
    ]);
  });
});
