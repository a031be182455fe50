import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PolicyInvalidError } from '../errors.ts';
import { authorizationFromSpec } from './from-spec.ts';

interface Fixture {
  valid: Array<{ name: string; input: unknown; namespace?: string; expect: unknown }>;
  invalid: Array<{ name: string; input?: unknown; spec?: unknown; field: string; message: string }>;
}

const fixture = parse(
  readFileSync(join(import.meta.dirname, 'testdata/from-spec.yaml'), 'utf8'),
) as Fixture;

describe('authorizationFromSpec: valid documents (testdata/from-spec.yaml)', () => {
  it.each(fixture.valid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const opts = c.namespace === undefined ? {} : { defaultNamespace: c.namespace };
    const got = authorizationFromSpec(c.input, opts);
    expect(got).toEqual(c.expect);
    // What the config stream carries survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(got))).toEqual(got);
  });
});

describe('authorizationFromSpec: invalid documents (testdata/from-spec.yaml)', () => {
  it.each(fixture.invalid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const input = c.input ?? {
      apiVersion: 'ambit.dev/v1alpha1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'p', namespace: 'shop' },
      spec: c.spec,
    };
    let err: unknown;
    try {
      authorizationFromSpec(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyInvalidError);
    const e = err as PolicyInvalidError;
    expect(e.code).toBe('AMBIT_POLICY_INVALID');
    expect(e.field).toBe(c.field);
    expect(e.message.startsWith(`${c.field}: `)).toBe(true);
    expect(e.message).toContain(c.message);
  });

  it('words a bad CIDR as the docs show', () => {
    expect(() =>
      authorizationFromSpec({
        apiVersion: 'ambit.dev/v1alpha1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'p', namespace: 'shop' },
        spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8', '10.0.0.0/33'] } }] }] },
      }),
    ).toThrow(
      'spec.rules[0].from[0].source.ipBlocks[1]: "10.0.0.0/33" is not a CIDR (e.g. 10.0.0.0/8, 2001:db8::/32) or IP',
    );
  });
});
