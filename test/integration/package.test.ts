// The packed tarball: `require` and `import` both work, with types, from what `npm pack` ships.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
// Inside the project, so the installed package finds its dependencies in ROOT/node_modules.
const SANDBOX = path.join(ROOT, '.pack-test');
const INSTALLED = path.join(SANDBOX, 'node_modules', 'token-budget');

beforeAll(() => {
  rmSync(SANDBOX, { recursive: true, force: true });
  mkdirSync(INSTALLED, { recursive: true });
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', SANDBOX], { cwd: ROOT, encoding: 'utf8' });
  const tarball = path.join(SANDBOX, packed.trim().split('\n').pop()!);
  execFileSync('tar', ['-xzf', tarball, '-C', INSTALLED, '--strip-components=1']);
}, 120_000);

afterAll(() => rmSync(SANDBOX, { recursive: true, force: true }));

const EXPORTS = ['createTokenBudget', 'memoryStore', 'redisStore', 'countTokens', 'countChatTokens', 'TokenBudgetConfigError'];

test('ships only dist/ and the docs', () => {
  expect(readdirSync(INSTALLED).sort()).toEqual(['CHANGELOG.md', 'README.md', 'dist', 'package.json']);
});

test('require() works', () => {
  const script = `const tb = require('token-budget');
    console.log(JSON.stringify([${EXPORTS.map((e) => `typeof tb.${e}`).join(',')}, tb.countTokens('hello world', 'gpt-4o')]));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual([...EXPORTS.map(() => 'function'), 2]);
});

test('import works', () => {
  const file = path.join(SANDBOX, 'consumer.mjs');
  writeFileSync(
    file,
    `import { ${EXPORTS.join(', ')} } from 'token-budget';
     const budget = createTokenBudget({ features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } } });
     console.log(JSON.stringify([${EXPORTS.map((e) => `typeof ${e}`).join(',')}, typeof budget.featureBudget, countTokens('hello world', 'gpt-4o')]));`,
  );
  const out = execFileSync(process.execPath, [file], { cwd: SANDBOX, encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual([...EXPORTS.map(() => 'function'), 'function', 2]);
});

test('the declarations type-check a consumer, req.tokenBudget included', () => {
  const file = path.join(SANDBOX, 'consumer.ts');
  writeFileSync(
    file,
    `import express from 'express';
     import { createTokenBudget, type TokenBudgetOptions } from 'token-budget';
     const options: TokenBudgetOptions = { features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } } };
     const budget = createTokenBudget(options);
     const app = express();
     app.post('/chat', budget.featureBudget('chat'), (req, res) => { res.json({ input: req.tokenBudget?.inputTokens }); });
     // @ts-expect-error maxInput must be a number
     createTokenBudget({ features: { chat: { maxInput: '10', maxOutput: 10, model: 'gpt-4o' } } });`,
  );
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [tsc, '--ignoreConfig', '--noEmit', '--strict', '--esModuleInterop', '--skipLibCheck', '--module', 'commonjs', '--moduleResolution', 'node10', '--types', 'node', '--ignoreDeprecations', '6.0', file],
    { cwd: SANDBOX, encoding: 'utf8' },
  );
});
