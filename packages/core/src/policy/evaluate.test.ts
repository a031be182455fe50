import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { SpiffeId } from '../identity/spiffe-id.ts';
import { evaluateL4, evaluateL7, selectPolicies, selectTargetPolicies } from './evaluate.ts';
import { authorizationFromSpec } from './from-spec.ts';
import type { AuthorizationTargetRef, L7Request, PolicyWorkload } from './types.ts';

interface Case {
  name: string;
  policies: Array<{ name: string; namespace?: string; spec: unknown }>;
  workload?: PolicyWorkload;
  target?: AuthorizationTargetRef;
  layer?: 'L4' | 'L7';
  request?: Partial<Omit<L7Request, 'sourceId'>> & { source?: string | null };
  expect: { allowed: boolean; policy?: string | null; reason?: string; audit?: string[] | null };
}

const { cases } = parse(
  readFileSync(join(import.meta.dirname, 'testdata/evaluate.yaml'), 'utf8'),
) as {
  cases: Case[];
};

function request(r: Case['request'] = {}): L7Request {
  const source = r.source === undefined ? 'cluster.local/ns/client/sa/sleep' : r.source;
  return {
    sourceId: source === null ? undefined : (`spiffe://${source}` as SpiffeId),
    sourceIp: r.sourceIp ?? '10.0.1.5',
    destinationIp: r.destinationIp ?? '10.0.2.7',
    destinationPort: r.destinationPort ?? 8080,
    method: r.method ?? 'GET',
    path: r.path ?? '/',
    host: r.host ?? 'web.app.svc.cluster.local',
    headers: r.headers ?? {},
  };
}

describe('policy evaluation table (testdata/evaluate.yaml)', () => {
  it('has enough cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const all = c.policies.map((p) =>
      authorizationFromSpec({
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: p.name, namespace: p.namespace ?? 'app' },
        spec: p.spec,
      }),
    );
    const req = request(c.request);
    let decision;
    if (c.layer === 'L7') {
      const applicable =
        c.target !== undefined
          ? selectTargetPolicies(all, { ...c.target, namespace: 'app' })
          : selectPolicies(all, c.workload ?? { namespace: 'app', labels: { app: 'web' } });
      decision = evaluateL7(applicable, req);
    } else {
      const applicable = selectPolicies(
        all,
        c.workload ?? { namespace: 'app', labels: { app: 'web' } },
      );
      const l4 = {
        sourceId: req.sourceId,
        sourceIp: req.sourceIp,
        destinationIp: req.destinationIp,
        destinationPort: req.destinationPort,
      };
      decision = evaluateL4(applicable, l4);
    }
    expect(decision.allowed, decision.reason).toBe(c.expect.allowed);
    if (c.expect.policy !== undefined) expect(decision.policy).toBe(c.expect.policy ?? undefined);
    if (c.expect.reason !== undefined) expect(decision.reason).toContain(c.expect.reason);
    if (c.expect.audit !== undefined) expect(decision.audit).toEqual(c.expect.audit ?? undefined);
  });
});

describe('fail closed on a condition key this build does not know (from a newer controller)', () => {
  const req = request({});
  const rule = { when: [{ key: 'request.body', values: ['x'] }] };
  const allow = {
    name: 'a',
    namespace: 'app',
    scope: { kind: 'namespace' },
    action: 'ALLOW',
    rules: [rule],
  } as const;
  const deny = { ...allow, name: 'd', action: 'DENY' } as const;

  it('an ALLOW rule with it matches nothing, at L4 and L7', () => {
    expect(evaluateL4([allow], req).allowed).toBe(false);
    expect(evaluateL7([allow], req).allowed).toBe(false);
  });

  it('a DENY rule with it denies at L7, and keeps its (empty) L4 part at L4', () => {
    expect(evaluateL7([deny], req)).toMatchObject({ allowed: false, policy: 'app/d' });
    expect(evaluateL4([deny], req)).toMatchObject({ allowed: false, policy: 'app/d' });
  });
});
