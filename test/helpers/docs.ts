// The project's markdown: README.md and every page under docs/, for the tests that hold them to the code.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** README.md, then every docs/**\/*.md in name order, as absolute paths. */
export function markdownFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => path.join(ROOT, 'docs', file));
  return [path.join(ROOT, 'README.md'), ...docs];
}

/** Every markdown file's text, one after the other: where a sample or a table row may live. */
export function readDocs(): string {
  return markdownFiles()
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
}
