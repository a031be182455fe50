import { describe, expect, it } from 'vitest';
import { ConfigStreamMessageError } from '../errors.ts';
import { applyServerMessage, type HeldType } from './apply-server-message.ts';
import { decodeServerMessage, type ServerMessage } from './stream-protocol.ts';

const route = (name: string, weight = 1) => ({ name, namespace: 'shop', weight });

function msg(version: string, resources: unknown[], removed: string[] = []): ServerMessage {
  return decodeServerMessage(
    JSON.stringify({
      schema: 1,
      type: 'Route',
      version,
      nonce: `n-${version}`,
      resources,
      removed,
    }),
  );
}

function held(version: string, names: string[]): HeldType {
  return {
    version,
    resources: new Map(names.map((n) => [`shop/${n}`, route(n)])),
  };
}

describe('applyServerMessage', () => {
  it('a snapshot replaces the type and reports only real differences', () => {
    const before = held('v1', ['a', 'b', 'c']);
    const { held: after, update } = applyServerMessage(
      before,
      msg('v2', [route('a'), route('b', 2), route('d')]),
      true,
    );
    expect([...after.resources.keys()]).toEqual(['shop/a', 'shop/b', 'shop/d']);
    expect(after.version).toBe('v2');
    expect(update).toMatchObject({ type: 'Route', version: 'v2', snapshot: true });
    expect(update.changed).toEqual(['shop/b', 'shop/d']); // a is unchanged
    expect(update.removed).toEqual(['shop/c']);
    expect([...before.resources.keys()]).toEqual(['shop/a', 'shop/b', 'shop/c']); // untouched
  });

  it('a delta upserts by key and deletes removed keys, ignoring unknown ones', () => {
    const before = held('v1', ['a', 'b']);
    const { held: after, update } = applyServerMessage(
      before,
      msg('v2', [route('b', 5), route('c')], ['shop/a', 'shop/zzz']),
      false,
    );
    expect([...after.resources.entries()]).toEqual([
      ['shop/b', route('b', 5)],
      ['shop/c', route('c')],
    ]);
    expect(update.changed).toEqual(['shop/b', 'shop/c']);
    expect(update.removed).toEqual(['shop/a']);
    expect(before.resources.size).toBe(2);
  });

  it('a first delta with nothing held starts from empty', () => {
    const { held: after } = applyServerMessage(undefined, msg('v1', [route('a')]), false);
    expect([...after.resources.keys()]).toEqual(['shop/a']);
  });

  it.each([
    ['a key twice in resources', msg('v2', [route('a'), route('a', 2)]), false, /resources\[1\]/],
    ['a key upserted and removed', msg('v2', [route('a')], ['shop/a']), false, /removed\[0\]/],
    ['a snapshot that removes keys', msg('v2', [route('a')], ['shop/b']), true, /snapshot/],
  ])('refuses %s, naming the field', (_what, m, snapshot, reason) => {
    let err: unknown;
    try {
      applyServerMessage(held('v1', ['a']), m, snapshot);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigStreamMessageError);
    expect((err as Error).message).toMatch(reason);
  });
});
