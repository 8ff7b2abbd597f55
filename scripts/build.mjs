// Builds dist/: CommonJS with declarations, plus an ES module entry with the same named exports.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });

// The dashboard's page, script, styles and uPlot are served from files beside the compiled router.
cpSync('lib/admin/assets', 'dist/cjs/admin/assets', { recursive: true });

// The `token-budget` command, runnable from a checkout or `npm link` too (npm sets the mode on install).
chmodSync('dist/cjs/cli/main.js', 0o755);

const names = Object.keys(require('../dist/cjs/index.js')).filter((name) => name !== '__esModule');
mkdirSync('dist/esm', { recursive: true });
writeFileSync('dist/esm/index.mjs', `import cjs from '../cjs/index.js';\nexport const { ${names.join(', ')} } = cjs;\n`);
writeFileSync('dist/esm/index.d.mts', "export * from '../cjs/index.js';\n");
console.log(`built dist/ (${names.length} exports)`);
