// The packed tarball: `require` and `import` both work, with types, from what `npm pack` ships; it loads no Redis client; publint and attw agree.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type RedisServer, startRedis } from '../helpers/redis';

const ROOT = path.resolve(__dirname, '../..');
// Inside the project, so the installed package finds its dependencies in ROOT/node_modules.
const SANDBOX = path.join(ROOT, '.pack-test');
const INSTALLED = path.join(SANDBOX, 'node_modules', 'token-budget');
let tarball: string;

beforeAll(() => {
  rmSync(SANDBOX, { recursive: true, force: true });
  mkdirSync(INSTALLED, { recursive: true });
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', SANDBOX], { cwd: ROOT, encoding: 'utf8' });
  tarball = path.join(SANDBOX, packed.trim().split('\n').pop()!);
  execFileSync('tar', ['-xzf', tarball, '-C', INSTALLED, '--strip-components=1']);
}, 120_000);

afterAll(() => rmSync(SANDBOX, { recursive: true, force: true }));

const EXPORTS = [
  'createTokenBudget',
  'memoryStore',
  'redisStore',
  'countTokens',
  'countChatTokens',
  'TokenBudgetConfigError',
  'loadBudgetConfig',
];

test('ships only dist/, the docs and the licence', () => {
  expect(readdirSync(INSTALLED).sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'dist', 'package.json']);
});

test('ships the token-budget command, executable', () => {
  const { bin } = JSON.parse(readFileSync(path.join(INSTALLED, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const out = execFileSync(path.join(INSTALLED, bin['token-budget']!), ['--help'], { cwd: SANDBOX, encoding: 'utf8' });
  expect(out).toMatch(/^Usage: token-budget <command>/);
  expect(out).toMatch(/\bflags\b/);
  expect(out).toMatch(/\bspend\b/);
});

test('ships the budget file schema as token-budget/budget.schema.json', () => {
  const script = "console.log(require('token-budget/budget.schema.json').title)";
  expect(execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' })).toBe('token-budget budget file\n');
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
     import IoRedis, { Cluster } from 'ioredis';
     import { createClient, createCluster } from 'redis';
     import { createClient as createClient4 } from 'redis4';
     import { createCluster as createCluster5 } from 'redis5';
     import { createTokenBudget, redisStore, type FixedWindow, type Period, type ReservedPart, type SlidingWindow, type Store, type TokenBudgetOptions } from 'token-budget';
     const options: TokenBudgetOptions = { features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } } };
     const budget = createTokenBudget(options);
     const app = express();
     app.post('/chat', budget.featureBudget('chat'), (req, res) => { res.json({ input: req.tokenBudget?.inputTokens }); });
     // @ts-expect-error maxInput must be a number
     createTokenBudget({ features: { chat: { maxInput: '10', maxOutput: 10, model: 'gpt-4o' } } });
     // Every supported client, as the app makes it, is a store's client.
     const stores: Store[] = [createClient(), createCluster({ rootNodes: [] }), createClient4(), createCluster5({ rootNodes: [] }), new IoRedis(), new Cluster([])].map((client) => redisStore(client));
     // @ts-expect-error a string is no Redis client
     redisStore('redis://localhost');
     // The types a store author needs.
     const day: FixedWindow = { kind: 'fixed', periodAt: (ms): Period => ({ id: 'd', startMs: ms, endMs: ms + 1 }) };
     const minute: SlidingWindow = { kind: 'sliding', windowMs: 60_000, bucketMs: 1000 };
     const part = (p: ReservedPart) => p.windowKey;
     void [stores, day, minute, part];`,
  );
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      '--ignoreConfig',
      '--noEmit',
      '--strict',
      '--esModuleInterop',
      '--skipLibCheck',
      '--module',
      'commonjs',
      '--moduleResolution',
      'node10',
      '--types',
      'node',
      '--ignoreDeprecations',
      '6.0',
      file,
    ],
    { cwd: SANDBOX, encoding: 'utf8' },
  );
});

/** The package's runtime dependencies and theirs, as installed. */
function dependencyClosure(): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: object;
    };
    Object.keys(manifest.dependencies ?? {}).forEach(visit);
  };
  const own = JSON.parse(readFileSync(path.join(INSTALLED, 'package.json'), 'utf8')) as { dependencies?: object };
  Object.keys(own.dependencies ?? {}).forEach(visit);
  return seen;
}

test('require() loads no Redis client and nothing outside the runtime dependencies, and stays light', () => {
  // Run where `redis`, `@redis/client` and `ioredis` can all be found: were they required, they would load.
  const script = `const before = new Set(Object.keys(require.cache));
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const tb = require('token-budget');
    gc();
    const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const files = Object.keys(require.cache).filter((file) => !before.has(file));
    const packages = new Set(files.map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file.slice(file.lastIndexOf('node_modules/')))?.[1]).filter(Boolean));
    packages.delete('token-budget');
    console.log(JSON.stringify({ packages: [...packages], heapMb, redisStore: typeof tb.redisStore }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { cwd: SANDBOX, encoding: 'utf8' });
  const { packages, heapMb, redisStore } = JSON.parse(out) as { packages: string[]; heapMb: number; redisStore: string };
  expect(redisStore).toBe('function');
  expect(packages.filter((name) => /redis/.test(name))).toEqual([]);
  const allowed = dependencyClosure();
  expect(packages.filter((name) => !allowed.has(name))).toEqual([]);
  // 3 MB measured; loading node-redis alone added 15 MB.
  expect(heapMb).toBeLessThan(10);
});

describe("redisStore from the tarball, through the app's own client", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.close());

  it.each([
    [
      'node-redis 4',
      `const client = require('redis4').createClient({ url: '%URL%' }); await client.connect();`,
      'await client.disconnect();',
    ],
    ['ioredis 6', `const client = new (require('ioredis6'))(%PORT%, '127.0.0.1');`, 'client.disconnect();'],
  ])('counts through %s', (_name, connect, close) => {
    const script = `(async () => {
      ${connect.replace('%URL%', server.url).replace('%PORT%', String(server.port))}
      const { redisStore } = require('token-budget');
      const store = redisStore(client, { prefix: 'tb:packed:' + Math.random() + ':' });
      const scope = { kind: 'user', key: 'u:{u=packed}:day', limit: 1000, onUnavailable: 'fail-closed',
        window: { kind: 'fixed', periodAt: (ms) => ({ id: 'd', startMs: ms - (ms % 86400000), endMs: ms - (ms % 86400000) + 86400000 }) } };
      const result = await store.reserve({ scopes: [scope], input: 100, maxOutput: 50 });
      await store.settle(result.reservation, 120);
      console.log(JSON.stringify([result.ok, (await store.usage(scope)).used]));
      ${close}
    })().catch((err) => { console.error(err); process.exit(1); });`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([true, 120]);
  });
});

test('publint finds nothing to warn about in the tarball', () => {
  // --strict: a warning fails too. Suggestions are printed, not failed on.
  execFileSync('npx', ['--no-install', 'publint', 'run', tarball, '--strict'], { cwd: ROOT, encoding: 'utf8' });
});

test('arethetypeswrong finds no problem in the tarball, in every resolution mode', () => {
  // The schema is JSON for editors, without types; node10 resolution knows no `exports` subpath.
  const args = ['--no-install', 'attw', tarball, '--format', 'ascii', '--exclude-entrypoints', './budget.schema.json'];
  execFileSync('npx', args, { cwd: ROOT, encoding: 'utf8' });
}, 60_000);
