// Test helper: runs the real helm (v3, built into the e2e cache by e2e/scripts/build-k8s.sh, or
// $AMBIT_HELM) on charts/ambit and parses what it renders.

import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const CHART = `${REPO}charts/ambit`;
/** The Kubernetes version `helm template` assumes (the local cluster's). */
export const KUBE_VERSION = '1.36.0';

/** A rendered object; tests read fields with at() / list() / str(). */
export type Obj = Record<string, unknown>;

/** The value at a dotted path (`spec.template.spec`, `containers.0`); undefined when absent. */
export function at(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** The objects of the list at a path ([] when absent). */
export function list(o: unknown, path: string): Obj[] {
  const v = at(o, path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}

/** The string at a path ('' when absent or not a string). */
export function str(o: unknown, path: string): string {
  const v = at(o, path);
  return typeof v === 'string' ? v : '';
}

/** The entry of a list whose `name` is this (a container's mounts, a pod's volumes). */
export function named(items: Obj[], name: string): Obj | undefined {
  return items.find((i) => i.name === name);
}

let helmPath: string | undefined;

/** The helm binary: $AMBIT_HELM, else the e2e cache's (built from the Go module proxy if absent). */
export function helm(): string {
  if (helmPath !== undefined) return helmPath;
  const fromEnv = process.env.AMBIT_HELM;
  if (fromEnv) return (helmPath = fromEnv);
  const dir = execFileSync('bash', [`${REPO}e2e/scripts/build-k8s.sh`, 'helm'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop();
  return (helmPath = `${dir}/helm`);
}

/** `--set`-style values as helm flags; objects go through --set-json so types survive. */
function valueFlags(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([k, v]) =>
    typeof v === 'string'
      ? ['--set-string', `${k}=${v}`]
      : ['--set-json', `${k}=${JSON.stringify(v)}`],
  );
}

export interface HelmRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function runHelm(args: string[]): HelmRun {
  const r = spawnSync(helm(), args, { encoding: 'utf8', cwd: REPO });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with the given values; throws with helm's message when it refuses. */
export function render(
  values: Record<string, unknown> = {},
  opts: { namespace?: string } = {},
): Rendered {
  const r = runHelm([
    'template',
    'ambit',
    CHART,
    '--namespace',
    opts.namespace ?? 'ambit-system',
    '--kube-version',
    KUBE_VERSION,
    ...valueFlags(values),
  ]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  const docs: Obj[] = [];
  for (const d of parseAllDocuments(r.stdout)) {
    const js: unknown = d.toJS();
    if (js !== null) docs.push(js as Obj);
  }
  return new Rendered(docs);
}

export class Rendered {
  readonly objects: readonly Obj[];
  constructor(objects: Obj[]) {
    this.objects = objects;
  }

  /** Every object of a kind. */
  all(kind: string): Obj[] {
    return this.objects.filter((o) => o.kind === kind);
  }

  /** The one object of this kind and name; throws naming what exists when absent. */
  get(kind: string, name: string): Obj {
    const found = this.objects.find((o) => o.kind === kind && at(o, 'metadata.name') === name);
    if (found === undefined) {
      const have = this.all(kind).map((o) => str(o, 'metadata.name'));
      throw new Error(`no ${kind} ${name} rendered (have: ${have.join(', ') || 'none'})`);
    }
    return found;
  }

  has(kind: string, name: string): boolean {
    return this.objects.some((o) => o.kind === kind && at(o, 'metadata.name') === name);
  }

  /** A workload's pod spec. */
  pod(kind: string, name: string): Obj {
    return at(this.get(kind, name), 'spec.template.spec') as Obj;
  }

  /** The first container of a workload's pod template. */
  container(kind: string, name: string): Obj {
    const c = list(this.pod(kind, name), 'containers')[0];
    if (c === undefined) throw new Error(`${kind} ${name} has no container`);
    return c;
  }
}

/** The value of `--flag=value` in a container's args (undefined when absent). */
export function flag(container: Obj, name: string): string | undefined {
  const prefix = `--${name}=`;
  const args = at(container, 'args');
  const hit = (Array.isArray(args) ? (args as string[]) : []).find((a) => a.startsWith(prefix));
  return hit?.slice(prefix.length);
}
