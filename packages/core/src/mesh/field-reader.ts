import { parseSpiffeId, type SpiffeId } from '../identity/spiffe-id.ts';
import { canonicalIp, isPort } from './ip.ts';

/**
 * Reads untrusted JSON/YAML values field by field, failing with the field's path
 * (`workloads[2].ip: "127.0.0.300" is not an IP address`). Written by hand: schema libraries would
 * do it but bring a dependency and their own error texts for ~100 lines of checks. The caller
 * decides which MeshError a failure becomes (config stream vs local file).
 */
export class FieldReader {
  readonly #fail: (message: string) => Error;

  constructor(fail: (message: string) => Error) {
    this.#fail = fail;
  }

  /** Throws the caller's error with `<path>: <why>`. */
  fail(path: string, why: string): never {
    throw this.#fail(path === '' ? why : `${path}: ${why}`);
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(path, `${show(v)} is not an object`);
    }
    return v as Record<string, unknown>;
  }

  /** Refuses fields other than `allowed` (catches typos in hand-written files). */
  onlyKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        this.fail(join(path, k), `unknown field (expected one of ${allowed.join(', ')})`);
      }
    }
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `${show(v)} is not a list`);
    return v as unknown[];
  }

  optionalArray(v: unknown, path: string): unknown[] {
    return v === undefined || v === null ? [] : this.array(v, path);
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `${show(v)} is not a string`);
    if (v === '') this.fail(path, 'must not be empty');
    return v;
  }

  optionalString(v: unknown, path: string): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, path);
  }

  /** A Kubernetes DNS-1123 label (namespace, service name, most object names). */
  name(v: unknown, path: string): string {
    const s = this.string(v, path);
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(s)) {
      this.fail(path, `${show(s)} is not a Kubernetes name (lower-case letters, digits, "-", ".")`);
    }
    return s;
  }

  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, `${show(v)} is not true or false`);
    return v;
  }

  integer(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `${show(v)} is not an integer in ${min}..${max}`);
    }
    return v;
  }

  port(v: unknown, path: string): number {
    if (!isPort(v)) this.fail(path, `${show(v)} is not a port (1..65535)`);
    return v;
  }

  /** An IPv4/IPv6 literal, returned in canonical form (brand it at the call site). */
  ip(v: unknown, path: string): string {
    const s = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (s === undefined) this.fail(path, `${show(v)} is not an IP address`);
    return s;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(path, `${show(v)} is not one of ${values.join(', ')}`);
    }
    return v as T;
  }

  spiffeId(v: unknown, path: string): SpiffeId {
    const s = this.string(v, path);
    try {
      return parseSpiffeId(s).id;
    } catch (err) {
      this.fail(path, (err as Error).message);
    }
  }

  /** A map of string → string (labels). */
  labels(v: unknown, path: string): Record<string, string> {
    if (v === undefined || v === null) return {};
    const obj = this.object(v, path);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(obj)) {
      if (typeof val !== 'string') this.fail(join(path, k), `${show(val)} is not a string`);
      out[k] = val;
    }
    return out;
  }
}

/** `a.b`, `a[0]`: the path of a field below `path`. */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A short, quoted rendering of a bad value for error messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'missing value';
  let s: string;
  try {
    s = JSON.stringify(v) ?? typeof v;
  } catch {
    s = typeof v;
  }
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
