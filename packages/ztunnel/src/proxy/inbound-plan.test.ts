import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SpiffeId } from '@ambit/core/identity/spiffe-id';
import type { IpAddr } from '@ambit/core/mesh/ip';
import { parseLocalConfig } from '../local-config.ts';
import { buildSnapshot } from '../state/mesh-snapshot.ts';
import { planInbound, type InboundConnection } from './inbound-plan.ts';

const state = buildSnapshot(
  parseLocalConfig(
    readFileSync(join(import.meta.dirname, 'testdata/mesh.yaml'), 'utf8'),
    'mesh.yaml',
  ),
  1,
);
const sleep = 'spiffe://cluster.local/ns/default/sa/sleep' as SpiffeId;
const other = 'spiffe://cluster.local/ns/bookinfo/sa/ratings' as SpiffeId;

interface Case {
  name: string;
  node?: string;
  conn: Partial<InboundConnection> & { target: { host: string; port: number } };
  want: Record<string, unknown>;
}

const cases: Case[] = [
  {
    name: 'HBONE to a local mesh workload → accept, dial its ip:port, mutual_tls',
    conn: { target: { host: '127.0.2.1', port: 8080 } },
    want: {
      kind: 'accept',
      workload: { name: 'reviews-v1' },
      workloadIdentity: 'spiffe://cluster.local/ns/bookinfo/sa/reviews',
      dial: { host: '127.0.2.1', port: 8080 },
      services: [{ name: 'reviews' }],
      mtlsMode: 'PERMISSIVE',
      connectionSecurityPolicy: 'mutual_tls',
      decision: { allowed: true },
    },
  },
  {
    name: 'the listener of the target pod itself (in-pod mode) → accept',
    conn: { localWorkloadIp: '127.0.2.1' as IpAddr, target: { host: '127.0.2.1', port: 8080 } },
    want: { kind: 'accept' },
  },
  {
    name: "another pod's listener → 400, the target is not this pod",
    conn: { localWorkloadIp: '127.0.8.1' as IpAddr, target: { host: '127.0.2.1', port: 8080 } },
    want: { kind: 'deny', code: 'TARGET_MISMATCH', status: 400 },
  },
  {
    name: 'a hostname :authority → 400',
    conn: { target: { host: 'reviews.bookinfo', port: 9080 } },
    want: { kind: 'deny', code: 'BAD_TARGET', status: 400 },
  },
  {
    name: 'the HBONE port as target → 400 (would loop)',
    conn: { target: { host: '127.0.2.1', port: 15008 } },
    want: { kind: 'deny', code: 'BAD_TARGET', status: 400, reason: expect.stringMatching(/loop/) },
  },
  {
    name: 'an unknown IP → 503',
    conn: { target: { host: '127.0.200.1', port: 80 } },
    want: { kind: 'deny', code: 'UNKNOWN_TARGET', status: 503 },
  },
  {
    name: 'a service VIP → 503 with a hint that HBONE targets pods',
    conn: { target: { host: '127.0.102.1', port: 9080 } },
    want: {
      kind: 'deny',
      code: 'UNKNOWN_TARGET',
      status: 503,
      reason: expect.stringMatching(/VIP of service bookinfo\/reviews/),
    },
  },
  {
    name: 'a workload of another node → 503',
    conn: { target: { host: '127.0.2.2', port: 8080 } },
    want: { kind: 'deny', code: 'TARGET_NOT_LOCAL', status: 503, workload: { name: 'reviews-v2' } },
  },
  {
    name: 'a workload outside the mesh → 503',
    node: 'node-b',
    conn: { target: { host: '127.0.4.1', port: 8000 } },
    want: { kind: 'deny', code: 'TARGET_NOT_IN_MESH', status: 503 },
  },
  {
    name: 'plaintext in a PERMISSIVE namespace → accept without identity',
    conn: { peerId: undefined, target: { host: '127.0.2.1', port: 8080 } },
    want: { kind: 'accept', connectionSecurityPolicy: 'none', mtlsMode: 'PERMISSIVE' },
  },
  {
    name: 'plaintext in a STRICT namespace → refused',
    conn: { peerId: undefined, target: { host: '127.0.6.1', port: 443 } },
    want: {
      kind: 'deny',
      code: 'PLAINTEXT_REFUSED',
      status: 401,
      reason: expect.stringMatching(/STRICT/),
    },
  },
  {
    name: 'STRICT namespace, allowed principal and port → accept',
    conn: { peerId: sleep, target: { host: '127.0.6.1', port: 443 } },
    want: {
      kind: 'accept',
      mtlsMode: 'STRICT',
      decision: { allowed: true, policy: 'payments/payments-from-sleep' },
    },
  },
  {
    name: 'an ALLOW policy that does not match the principal → 401 naming why',
    conn: { peerId: other, target: { host: '127.0.6.1', port: 443 } },
    want: { kind: 'deny', code: 'POLICY_DENIED', status: 401, decision: { allowed: false } },
  },
  {
    name: 'an ALLOW policy that does not match the port → 401',
    conn: { peerId: sleep, target: { host: '127.0.6.1', port: 8443 } },
    want: { kind: 'deny', code: 'POLICY_DENIED', status: 401 },
  },
  {
    name: 'a DENY policy on the source IP → 401 naming the policy',
    conn: { sourceIp: '127.0.1.9', target: { host: '127.0.2.1', port: 8080 } },
    want: {
      kind: 'deny',
      code: 'POLICY_DENIED',
      decision: { allowed: false, policy: 'bookinfo/reviews-no-legacy' },
    },
  },
];

describe('planInbound', () => {
  it.each(cases)('$name', (c) => {
    const conn: InboundConnection = {
      localWorkloadIp: undefined,
      peerId: 'peerId' in c.conn ? c.conn.peerId : sleep,
      sourceIp: '127.0.1.1',
      ...c.conn,
    };
    expect(planInbound(state, conn, { nodeName: c.node ?? 'node-a' })).toMatchObject(c.want);
  });
});
