import { describe, expect, it } from 'vitest';
import { formatSpiffeId, isSpiffeId, parseSpiffeId } from './spiffe-id.ts';

describe('parseSpiffeId', () => {
  it('parses a well-formed identity into its parts', () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/default/sa/bookinfo-ratings')).toEqual({
      id: 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings',
      trustDomain: 'cluster.local',
      namespace: 'default',
      serviceAccount: 'bookinfo-ratings',
    });
  });

  it.each([
    ['http://cluster.local/ns/a/sa/b', 'scheme must be "spiffe://"'],
    ['SPIFFE://cluster.local/ns/a/sa/b', 'scheme must be "spiffe://"'],
    ['spiffe:///ns/a/sa/b', 'empty trust domain'],
    ['spiffe://Cluster.Local/ns/a/sa/b', 'trust domain may hold only'],
    ['spiffe://cluster.local', 'missing path'],
    ['spiffe://cluster.local/ns//sa/b', 'empty namespace'],
    ['spiffe://cluster.local/ns/a/sa/', 'empty service account'],
    ['spiffe://cluster.local/ns/a/sa/b/extra', 'path must be exactly'],
    ['spiffe://cluster.local/sa/b/ns/a', 'path must be exactly'],
    ['spiffe://cluster.local/ns/../sa/b', 'path traversal'],
    ['spiffe://cluster.local/ns/a/sa/..', 'path traversal'],
    ['spiffe://cluster.local/ns/a/sa/b..c', 'path traversal'],
    ['spiffe://cluster.local/ns/a/sa/b?x=1', 'query, fragment'],
    ['spiffe://cluster.local/ns/a%2F/sa/b', 'query, fragment'],
    ['spiffe://cluster.local/ns/A/sa/b', 'not a Kubernetes namespace name'],
    [`spiffe://cluster.local/ns/a/sa/${'b'.repeat(2100)}`, 'longer than 2048 bytes'],
  ])('rejects %s', (input, why) => {
    expect(() => parseSpiffeId(input)).toThrow(why);
    try {
      parseSpiffeId(input);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('AMBIT_INVALID_SPIFFE_ID');
    }
  });
});

describe('formatSpiffeId', () => {
  it('round-trips through parse', () => {
    const id = formatSpiffeId({
      trustDomain: 'example.org',
      namespace: 'ns-1',
      serviceAccount: 'sa.v2',
    });
    expect(id).toBe('spiffe://example.org/ns/ns-1/sa/sa.v2');
    expect(parseSpiffeId(id).serviceAccount).toBe('sa.v2');
  });

  it('refuses parts that would not parse back', () => {
    expect(() =>
      formatSpiffeId({ trustDomain: 'td', namespace: 'a/b', serviceAccount: 'x' }),
    ).toThrow('not a Kubernetes namespace name');
  });

  it('isSpiffeId never throws', () => {
    expect(isSpiffeId('spiffe://td/ns/a/sa/b')).toBe(true);
    expect(isSpiffeId('nope')).toBe(false);
  });
});
