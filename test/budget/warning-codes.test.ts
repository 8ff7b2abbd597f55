// The warning codes of the code and of the reference are the same list.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

test('every WarningCode is documented in docs/reference/errors.md, and every documented warning is a WarningCode', () => {
  const types = readFileSync(path.join(ROOT, 'lib/types.ts'), 'utf8');
  const union = types.split('export type WarningCode =')[1]!.split(';')[0]!;
  const inCode = [...union.matchAll(/'(TB_[A-Z_]+)'/g)].map((m) => m[1]).concat('TB_SHADOW_<CODE>');
  const docs = readFileSync(path.join(ROOT, 'docs/reference/errors.md'), 'utf8');
  const warnings = docs.split('## Warnings (app mistakes)')[1]!.split('\n## ')[0]!;
  const documented = [...warnings.matchAll(/^\| `(TB_[A-Z_<>]+)`/gm)].map((m) => m[1]);
  expect(inCode.sort()).toEqual(documented.sort());
  expect(inCode.length).toBeGreaterThan(20);
});
