// File mode's callers: a YAML list of bearer tokens and who holds them, instead of TokenReview.
//   - { token: <secret>, ztunnel: <node name> }
//   - { token: <secret>, waypoint: <namespace>/<name> }

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ManifestError } from '@ambit/core/errors';
import type { SubscriberIdentity } from '../stream/subscriber-scope.ts';

export type TokenTable = ReadonlyMap<string, SubscriberIdentity>;

export function parseTokenFile(text: string, file: string): TokenTable {
  const doc: unknown = parse(text);
  if (!Array.isArray(doc))
    throw new ManifestError(`${file}: expected a YAML list of {token, ztunnel|waypoint}`);
  const out = new Map<string, SubscriberIdentity>();
  doc.forEach((e: unknown, i) => {
    const entry = e as { token?: unknown; ztunnel?: unknown; waypoint?: unknown };
    const where = `${file} entry ${i + 1}`;
    if (typeof entry?.token !== 'string' || entry.token.length < 8 || /\s/.test(entry.token)) {
      throw new ManifestError(
        `${where}: token must be a string of at least 8 characters without spaces`,
      );
    }
    if (typeof entry.ztunnel === 'string' && entry.ztunnel !== '') {
      out.set(entry.token, { kind: 'ztunnel', node: entry.ztunnel });
    } else if (typeof entry.waypoint === 'string' && /^[^/]+\/[^/]+$/.test(entry.waypoint)) {
      const [namespace = '', name = ''] = entry.waypoint.split('/');
      out.set(entry.token, { kind: 'waypoint', namespace, name });
    } else {
      throw new ManifestError(`${where}: give ztunnel: <node> or waypoint: <namespace>/<name>`);
    }
  });
  return out;
}

export async function readTokenFile(file: string): Promise<TokenTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ManifestError(`cannot read the tokens file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseTokenFile(text, file);
}
