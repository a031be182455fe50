// The development PodSource: namespaces and pods listed in one YAML file, e.g.
//
//   namespaces:
//     - { name: shop, labels: { ambit.dev/dataplane-mode: ambient } }
//   pods:
//     - { name: web-0, namespace: shop, uid: 7d3c…, serviceAccount: web,
//         labels: { app: web }, annotations: {} }
//
// reload() re-reads the file (main.ts calls it when the file changes); a malformed file is
// refused whole with PodSourceError naming the field, and the last good copy stays.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { PodSourceError } from '@ambit/core/errors';
import { FieldReader, join } from '@ambit/core/mesh/field-reader';
import type { NamespaceFacts, PodFacts, PodSource } from './pod-source.ts';

export interface PodFile {
  namespaces: Map<string, NamespaceFacts>;
  /** By `namespace/name`. */
  pods: Map<string, PodFacts>;
}

export function parsePodFile(text: string, fileName = 'pods'): PodFile {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PodSourceError(`${fileName}: not valid YAML: ${doc.errors[0]?.message ?? ''}`);
  }
  const r = new FieldReader((m) => new PodSourceError(`${fileName}: ${m}`));
  const root: unknown = doc.toJS() ?? {};
  const o = r.object(root, '');
  r.onlyKeys(o, '', ['namespaces', 'pods']);
  const namespaces = new Map<string, NamespaceFacts>();
  r.optionalArray(o.namespaces, 'namespaces').forEach((v, i) => {
    const p = join('namespaces', i);
    const n = r.object(v, p);
    r.onlyKeys(n, p, ['name', 'labels']);
    const name = r.name(n.name, join(p, 'name'));
    if (namespaces.has(name)) r.fail(join(p, 'name'), `namespace ${name} is listed twice`);
    namespaces.set(name, { name, labels: r.labels(n.labels, join(p, 'labels')) });
  });
  const pods = new Map<string, PodFacts>();
  const uids = new Set<string>();
  r.optionalArray(o.pods, 'pods').forEach((v, i) => {
    const p = join('pods', i);
    const n = r.object(v, p);
    r.onlyKeys(n, p, ['name', 'namespace', 'uid', 'serviceAccount', 'labels', 'annotations']);
    const pod: PodFacts = {
      name: r.name(n.name, join(p, 'name')),
      namespace: r.name(n.namespace, join(p, 'namespace')),
      uid: r.string(n.uid, join(p, 'uid')),
      serviceAccount:
        n.serviceAccount === undefined
          ? 'default'
          : r.name(n.serviceAccount, join(p, 'serviceAccount')),
      labels: r.labels(n.labels, join(p, 'labels')),
      annotations: r.labels(n.annotations, join(p, 'annotations')),
    };
    const key = `${pod.namespace}/${pod.name}`;
    if (pods.has(key)) r.fail(join(p, 'name'), `pod ${key} is listed twice`);
    if (uids.has(pod.uid)) r.fail(join(p, 'uid'), `uid ${pod.uid} is used twice`);
    uids.add(pod.uid);
    pods.set(key, pod);
  });
  return { namespaces, pods };
}

export class LocalPodSource implements PodSource {
  readonly #path: string;
  #file: PodFile = { namespaces: new Map(), pods: new Map() };
  readonly #listeners: (() => void)[] = [];
  /** What recordEnrolment was told, by pod uid (for logs and tests). */
  readonly enrolment = new Map<string, boolean>();

  constructor(path: string) {
    this.#path = path;
  }

  /** Reads the file; throws PodSourceError (last good copy kept). Notifies listeners on success. */
  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      throw new PodSourceError(`cannot read ${this.#path}`, { cause: err });
    }
    this.#file = parsePodFile(text, this.#path);
    for (const l of this.#listeners) l();
  }

  getPod(namespace: string, name: string): Promise<PodFacts | undefined> {
    return Promise.resolve(this.#file.pods.get(`${namespace}/${name}`));
  }

  getNamespace(name: string): NamespaceFacts | undefined {
    return this.#file.namespaces.get(name);
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  recordEnrolment(pod: PodFacts, enrolled: boolean): Promise<void> {
    this.enrolment.set(pod.uid, enrolled);
    return Promise.resolve();
  }

  close(): void {
    this.#listeners.length = 0;
  }
}
