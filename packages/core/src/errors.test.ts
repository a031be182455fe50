import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

/** Every `code = 'AMBIT_…'` declared in a package's errors.ts. */
function declaredCodes(): string[] {
  const codes: string[] = [];
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const file = join(root, 'packages', pkg, 'src', 'errors.ts');
    if (!existsSync(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/code\s*=\s*'(AMBIT_[A-Z0-9_]+)'/g)) {
      codes.push(m[1]!);
    }
  }
  return codes;
}

describe('error codes', () => {
  const codes = declaredCodes();

  it('are unique across packages', () => {
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('are each documented in docs/errors.md', () => {
    const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
    const missing = codes.filter((c) => !doc.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });
});
