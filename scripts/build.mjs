// Builds dist/: CommonJS with declarations, plus an ES module entry with the same named exports.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });

// The dashboard's page, script, styles and uPlot are served from files beside the compiled router.
cpSync('lib/admin/assets', 'dist/cjs/admin/assets', { recursive: true });

// The `token-budget` command, runnable from a checkout or `npm link` too (npm sets the mode on install).
chmodSync('dist/cjs/cli/main.js', 0o755);

// Each entry's ES module re-exports the CommonJS build's names, so both kinds of import share one instance.
const ENTRIES = ['index', 'testing/index', 'koa/index', 'store/index'];
for (const entry of ENTRIES) {
  const names = Object.keys(require(`../dist/cjs/${entry}.js`)).filter((name) => name !== '__esModule');
  const cjs = path.posix.relative(path.posix.dirname(`dist/esm/${entry}`), `dist/cjs/${entry}.js`);
  mkdirSync(path.dirname(`dist/esm/${entry}`), { recursive: true });
  writeFileSync(`dist/esm/${entry}.mjs`, `import cjs from '${cjs}';\nexport const { ${names.join(', ')} } = cjs;\n`);
  writeFileSync(`dist/esm/${entry}.d.mts`, `export * from '${cjs}';\n`);
  console.log(`built dist/ ${entry} (${names.length} exports)`);
}
