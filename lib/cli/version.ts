// The installed package's version, from the nearest package.json above this file that is token-budget's.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Found by walking up: the file is lib/cli in a clone and dist/cjs/cli in the package. */
export function packageVersion(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const { name, version } = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (name === 'token-budget' && typeof version === 'string') return version;
    }
    if (dirname(dir) === dir) return undefined;
  }
}
