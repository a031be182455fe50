import { describe, expect, it } from 'vitest';
import { formatAuthority, parseAuthority } from './authority.ts';

describe('parseAuthority', () => {
  const good: [string, { host: string; port: number }][] = [
    ['10.0.0.1:8080', { host: '10.0.0.1', port: 8080 }],
    ['[fd00::1]:443', { host: 'fd00::1', port: 443 }],
    [
      'reviews.default.svc.cluster.local:9080',
      { host: 'reviews.default.svc.cluster.local', port: 9080 },
    ],
    ['127.0.0.1:65535', { host: '127.0.0.1', port: 65535 }],
  ];
  for (const [raw, want] of good) {
    it(`accepts ${raw}`, () => {
      expect(parseAuthority(raw)).toEqual(want);
      expect(formatAuthority(want)).toBe(raw);
    });
  }
  const bad = [
    '',
    'garbage',
    '10.0.0.1',
    '10.0.0.1:0',
    '10.0.0.1:65536',
    '10.0.0.1:99999',
    '10.0.0.1:+80',
    '10.0.0.1:8o',
    '10.0.0:80',
    '::1:80',
    '[::1:80',
    '[not-ip]:80',
    'user@host:80',
    'bad_host:80',
    '-leading.dash:80',
  ];
  for (const raw of bad) {
    it(`rejects ${JSON.stringify(raw)} with AMBIT_HBONE_BAD_REQUEST`, () => {
      expect(() => parseAuthority(raw)).toThrow(
        expect.objectContaining({ code: 'AMBIT_HBONE_BAD_REQUEST', status: 400 }),
      );
    });
  }
  it('rejects a missing authority', () => {
    expect(() => parseAuthority(undefined)).toThrow(
      expect.objectContaining({ code: 'AMBIT_HBONE_BAD_REQUEST' }),
    );
  });
});
