// The CRD files, checked without a cluster: the YAML is a well-formed apiextensions/v1 CRD with a
// structural schema (every node typed); every CEL rule parses and has an actionable message; and
// example objects are judged the way the API server would: good ones pass, bad ones are refused
// with the rule's message. CEL runs in @marcbachmann/cel-js with stand-ins for the Kubernetes
// library functions used (isCIDR, isIP, quantity): an approximation of the API server, which
// the e2e tests against the local cluster check for real.

import { isIP } from 'node:net';
import { Environment } from '@marcbachmann/cel-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadCrds, undeclaredFields, type Crd, type SchemaNode } from './crd-files.ts';

class Quantity {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
  .registerType('Quantity', Quantity)
  .registerFunction('isIP(string): bool', (s: string) => isIP(s) !== 0)
  .registerFunction('isCIDR(string): bool', (s: string) => {
    const [ip, bits, extra] = s.split('/');
    const family = isIP(ip ?? '');
    const max = family === 4 ? 32 : 128;
    return (
      family !== 0 && extra === undefined && /^[0-9]{1,3}$/.test(bits ?? '') && Number(bits) <= max
    );
  })
  .registerFunction('quantity(string): Quantity', (s: string) => {
    const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(s);
    const factor = m ? SUFFIX[m[2] ?? ''] : undefined;
    if (!m || factor === undefined) throw new Error(`not a quantity: ${s}`);
    return new Quantity(Number(m[1]) * factor);
  })
  .registerFunction({
    name: 'compareTo',
    receiverType: 'Quantity',
    returnType: 'int',
    params: [{ name: 'other', type: 'Quantity' }],
    handler: (a: Quantity, b: Quantity) => BigInt(Math.sign(a.value - b.value)),
  });

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));

/** Errors the API server would report for `value` (schema, then CEL), as "path: message". */
function validate(schema: SchemaNode, value: unknown, at = ''): string[] {
  const errs: string[] = [];
  const here = at === '' ? '<root>' : at;
  const t = schema.type;
  const isInt = typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value));
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (!isInt && typeof value !== 'string') return [`${here}: must be an integer or a string`];
  } else if (
    t === 'object' &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    return [`${here}: must be an object`];
  } else if (t === 'array' && !Array.isArray(value)) return [`${here}: must be a list`];
  else if (t === 'string' && typeof value !== 'string') return [`${here}: must be a string`];
  else if (t === 'integer' && !isInt) return [`${here}: must be an integer`];
  else if (t === 'boolean' && typeof value !== 'boolean') return [`${here}: must be a boolean`];

  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    errs.push(`${here}: Unsupported value: ${JSON.stringify(value)}`);
  }
  if (isInt && schema.minimum !== undefined && num(value) < schema.minimum)
    errs.push(`${here}: should be >= ${schema.minimum}`);
  if (isInt && schema.maximum !== undefined && num(value) > schema.maximum)
    errs.push(`${here}: should be <= ${schema.maximum}`);
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      errs.push(`${here}: should match '${schema.pattern}'`);
    }
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
      errs.push(`${here}: Too long`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errs.push(`${here}: Too short`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errs.push(`${here}: should have at least ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
      errs.push(`${here}: Too many items`);
    if (schema.items !== undefined)
      value.forEach((v, i) => errs.push(...validate(schema.items as SchemaNode, v, `${at}[${i}]`)));
  } else if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    const n = Object.keys(o).length;
    if (typeof schema.minProperties === 'number' && n < schema.minProperties)
      errs.push(`${here}: should have at least ${schema.minProperties} properties`);
    if (typeof schema.maxProperties === 'number' && n > schema.maxProperties)
      errs.push(`${here}: Too many properties`);
    for (const r of (schema.required as string[] | undefined) ?? [])
      if (!(r in o)) errs.push(`${at === '' ? r : `${at}.${r}`}: Required value`);
    for (const [k, v] of Object.entries(o)) {
      const child =
        schema.properties?.[k] ??
        (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (child !== undefined) errs.push(...validate(child, v, at === '' ? k : `${at}.${k}`));
    }
  }
  // Like the API server: CEL rules run only where the schema itself is satisfied.
  if (errs.length === 0) {
    for (const v of schema['x-kubernetes-validations'] ?? []) {
      if (cel.evaluate(v.rule ?? '', { self: value }) !== true)
        errs.push(`${here}: Invalid value: ${v.message ?? ''}`);
    }
  }
  return errs;
}

/** Every schema node with its path. */
function* nodes(s: SchemaNode, at: string): Generator<[string, SchemaNode]> {
  yield [at, s];
  for (const [k, c] of Object.entries(s.properties ?? {})) yield* nodes(c, `${at}.${k}`);
  if (typeof s.additionalProperties === 'object') yield* nodes(s.additionalProperties, `${at}.*`);
  if (s.items !== undefined) yield* nodes(s.items, `${at}[]`);
}

/**
 * A stand-in for the API server's static CEL cost check, which refuses a CRD (422, "estimated rule
 * cost exceeds budget") when a rule could cost over 10M units per object: its cost per evaluation
 * times how often it can run (the product of the maxItems/maxProperties of the lists and maps above
 * it). String functions cost about 0.1–0.4 units per character (a paths rule over 64×32×64 strings
 * of 1,024 characters was 5.5x over), so this bounds "runs × characters the rule can read" at 20M,
 * and requires every list, map and string on the way to be bounded (an unbounded one is estimated
 * at the 3 MiB request size). The k8s suite installs the CRDs into a real API server.
 */
const CEL_CHARACTER_BUDGET = 20_000_000;

function isStringy(n: SchemaNode): boolean {
  return n.type === 'string' || n['x-kubernetes-int-or-string'] === true;
}

/** Characters a rule can read through `n` (Infinity when something on the way is unbounded). */
function charactersIn(n: SchemaNode): number {
  if (isStringy(n)) {
    if (n.enum !== undefined) return Math.max(...n.enum.map((e) => String(e).length));
    return typeof n.maxLength === 'number' ? n.maxLength : Infinity;
  }
  if (n.type === 'array' && n.items !== undefined) {
    const size = typeof n.maxItems === 'number' ? n.maxItems : Infinity;
    return (
      size * Math.max(1, isStringy(n.items) || n.items.type === 'array' ? charactersIn(n.items) : 1)
    );
  }
  if (n.type === 'object' && typeof n.additionalProperties === 'object') {
    const size = typeof n.maxProperties === 'number' ? n.maxProperties : Infinity;
    return size * Math.max(1, charactersIn(n.additionalProperties));
  }
  return 1;
}

/** Every CEL rule with how often it can run per object and the characters it can read each time. */
function* celCosts(
  s: SchemaNode,
  at: string,
  runs: number,
): Generator<{ at: string; rule: string; runs: number; characters: number }> {
  for (const v of s['x-kubernetes-validations'] ?? []) {
    const rule = v.rule ?? '';
    const reads = rule.replace(/has\(self\.\w+\)/g, ''); // has() reads no characters
    let characters = isStringy(s) || s.type === 'array' ? charactersIn(s) : 1;
    for (const [k, c] of Object.entries(s.properties ?? {}))
      if (new RegExp(`self\\.${k}\\b`).test(reads)) characters += charactersIn(c);
    if (typeof s.additionalProperties === 'object') characters += charactersIn(s);
    yield { at, rule, runs, characters };
  }
  for (const [k, c] of Object.entries(s.properties ?? {})) yield* celCosts(c, `${at}.${k}`, runs);
  if (typeof s.additionalProperties === 'object') {
    const size = typeof s.maxProperties === 'number' ? s.maxProperties : Infinity;
    yield* celCosts(s.additionalProperties, `${at}.*`, runs * size);
  }
  if (s.items !== undefined) {
    const size = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
    yield* celCosts(s.items, `${at}[]`, runs * size);
  }
}

const crds = loadCrds();
const schemaOf = (file: string): SchemaNode => {
  const v = crds.get(file)?.spec.versions[0];
  if (v === undefined) throw new Error(`no CRD ${file}`);
  return v.schema.openAPIV3Schema;
};

describe('CRD files', () => {
  it('are the three Ambit kinds', () => {
    expect([...crds.keys()]).toEqual([
      'authorizationpolicies.ambit.dev.yaml',
      'peerauthentications.ambit.dev.yaml',
      'waypoints.ambit.dev.yaml',
    ]);
  });

  for (const [file, crd] of crds) {
    describe(file, () => {
      it('is an apiextensions.k8s.io/v1 CRD in group ambit.dev, v1alpha1 served and stored, with a status subresource', () => {
        expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
        expect(crd.kind).toBe('CustomResourceDefinition');
        expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.${crd.spec.group}`);
        expect(file).toBe(`${crd.metadata.name}.yaml`);
        expect(crd.spec.group).toBe('ambit.dev');
        expect(crd.spec.scope).toBe('Namespaced');
        expect(crd.spec.versions).toHaveLength(1);
        const v = crd.spec.versions[0] as Crd['spec']['versions'][number];
        expect(v).toMatchObject({
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
        });
        for (const c of v.additionalPrinterColumns ?? []) expect(c.jsonPath).toMatch(/^\./);
        expect(v.additionalPrinterColumns?.map((c) => c.name)).toContain('Age');
      });

      it('has a structural schema: every node typed, defaults valid, patterns compile', () => {
        const problems: string[] = [];
        for (const [at, n] of nodes(schemaOf(file), '')) {
          if (n['x-kubernetes-int-or-string'] === true) {
            if (
              JSON.stringify(n.anyOf) !== JSON.stringify([{ type: 'integer' }, { type: 'string' }])
            )
              problems.push(`${at}: int-or-string needs anyOf integer/string`);
          } else if (typeof n.type !== 'string') problems.push(`${at}: no type`);
          else if (n.anyOf !== undefined || n.oneOf !== undefined || n.$ref !== undefined)
            problems.push(`${at}: anyOf/oneOf/$ref`);
          if (n.properties !== undefined && n.additionalProperties !== undefined)
            problems.push(`${at}: properties and additionalProperties`);
          if (n.type === 'array' && n.items === undefined)
            problems.push(`${at}: array without items`);
          if (n.pattern !== undefined)
            expect(() => new RegExp(n.pattern as string, 'u'), at).not.toThrow();
          if (n.default !== undefined) expect(validate(n, n.default), `${at} default`).toEqual([]);
        }
        expect(problems).toEqual([]);
      });

      it('has CEL rules that parse and carry a message', () => {
        let count = 0;
        for (const [at, n] of nodes(schemaOf(file), '')) {
          for (const v of n['x-kubernetes-validations'] ?? []) {
            count++;
            expect(
              typeof v.rule === 'string' && v.rule.includes('self'),
              `${at}: rule uses self`,
            ).toBe(true);
            expect(() => cel.parse(v.rule ?? ''), `${at}: ${v.rule}`).not.toThrow();
            expect(v.message?.length ?? 0, `${at}: message`).toBeGreaterThan(20);
          }
        }
        expect(count).toBeGreaterThan(0);
      });

      it("keeps every CEL rule within the API server's cost budget (lists, maps and strings bounded)", () => {
        const over: string[] = [];
        for (const c of celCosts(schemaOf(file), '', 1)) {
          if (c.runs * c.characters > CEL_CHARACTER_BUDGET)
            over.push(`${c.at}: ${c.runs} runs × ${c.characters} characters: ${c.rule}`);
        }
        expect(over).toEqual([]);
      });
    });
  }
});

const examples = parse(
  readFileSync(join(import.meta.dirname, 'testdata', 'crd-examples.yaml'), 'utf8'),
  {
    intAsBigInt: true,
  },
) as {
  valid: { name: string; object: { kind: string } }[];
  invalid: { name: string; object: { kind: string }; errors: string[] }[];
};

const FILE: Record<string, string> = {
  Waypoint: 'waypoints.ambit.dev.yaml',
  AuthorizationPolicy: 'authorizationpolicies.ambit.dev.yaml',
  PeerAuthentication: 'peerauthentications.ambit.dev.yaml',
};

describe('the API server would accept', () => {
  for (const ex of examples.valid) {
    it(ex.name, () => {
      const schema = schemaOf(FILE[ex.object.kind] ?? '');
      expect(validate(schema, ex.object)).toEqual([]);
      expect(undeclaredFields(schema, ex.object), 'fields the API server would prune').toEqual([]);
    });
  }
});

describe('the API server would refuse, saying why', () => {
  for (const ex of examples.invalid) {
    it(ex.name, () => {
      expect(validate(schemaOf(FILE[ex.object.kind] ?? ''), ex.object)).toEqual(ex.errors);
    });
  }
});

describe('no field the controller understands is pruned', () => {
  it('every valid AuthorizationPolicy of core/policy/testdata/from-spec.yaml fits the schema', () => {
    const doc = parse(
      readFileSync(
        join(
          import.meta.dirname,
          '..',
          '..',
          '..',
          'core',
          'src',
          'policy',
          'testdata',
          'from-spec.yaml',
        ),
        'utf8',
      ),
      { intAsBigInt: true },
    ) as { valid: { name: string; input: unknown }[] };
    const schema = schemaOf(FILE.AuthorizationPolicy ?? '');
    for (const c of doc.valid) {
      if (typeof c.input === 'string') continue; // a case for YAML text input, same object
      expect([...undeclaredFields(schema, c.input), ...validate(schema, c.input)], c.name).toEqual(
        [],
      );
    }
  });
});
