// Ambit's CustomResourceDefinitions (packages/controller/crds/*.yaml), loaded for installers,
// tests and file mode, plus a check of which fields of an object a CRD's schema does not declare
// (the API server prunes those silently, so file mode can warn about them instead).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const CRD_DIR = join(import.meta.dirname, '..', '..', 'crds');

/** The parts of an OpenAPI v3 schema node a CRD uses. */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule?: string; message?: string }[];
  [other: string]: unknown;
}

export interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular?: string };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[];
      schema: { openAPIV3Schema: SchemaNode };
    }[];
  };
}

/** Every CRD file, by file name. */
export function loadCrds(dir: string = CRD_DIR): Map<string, Crd> {
  const out = new Map<string, Crd>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.yaml'))
    .sort()) {
    out.set(f, parse(readFileSync(join(dir, f), 'utf8')) as Crd);
  }
  return out;
}

/** Paths of the fields in `value` that `schema` does not declare (and the API server would prune). */
export function undeclaredFields(schema: SchemaNode, value: unknown, at = ''): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return [];
  if (Array.isArray(value)) {
    return schema.items === undefined
      ? []
      : value.flatMap((v, i) => undeclaredFields(schema.items as SchemaNode, v, `${at}[${i}]`));
  }
  if (typeof value !== 'object' || value === null) return [];
  if (
    schema.type === 'object' &&
    schema.properties === undefined &&
    schema.additionalProperties === undefined
  ) {
    return []; // e.g. metadata: { type: object } — the API server handles it
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const here = at === '' ? k : `${at}.${k}`;
    const child =
      schema.properties?.[k] ??
      (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (child === undefined) out.push(here);
    else out.push(...undeclaredFields(child, v, here));
  }
  return out;
}
