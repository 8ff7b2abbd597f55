// The packed tarball: `require` and `import` of every entry work, with types, from what `npm pack` ships; no entry loads another framework or a Redis client; publint and attw agree.
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
  // A package of its own: inside the repo's, Node would resolve 'token-budget' to the repo itself (self-reference).
  writeFileSync(path.join(SANDBOX, 'package.json'), JSON.stringify({ name: 'pack-test', private: true }));
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

test('ships only dist/, the docs (README.md and docs/, which it links to) and the licence', () => {
  expect(readdirSync(INSTALLED).sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'dist', 'docs', 'package.json']);
});

test('a consumer resolves every entry to the unpacked tarball', () => {
  const script =
    "console.log(JSON.stringify(['token-budget', 'token-budget/testing', 'token-budget/koa', 'token-budget/store'].map((id) => require.resolve(id))))";
  const resolved = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' })) as string[];
  expect(resolved).toEqual([
    path.join(INSTALLED, 'dist', 'cjs', 'index.js'),
    path.join(INSTALLED, 'dist', 'cjs', 'testing', 'index.js'),
    path.join(INSTALLED, 'dist', 'cjs', 'koa', 'index.js'),
    path.join(INSTALLED, 'dist', 'cjs', 'store', 'index.js'),
  ]);
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

test('the declarations type-check a consumer, req.tokenBudget and token-budget/testing included', () => {
  const file = path.join(SANDBOX, 'consumer.ts');
  writeFileSync(
    file,
    `import express from 'express';
     import IoRedis, { Cluster } from 'ioredis';
     import { createClient, createCluster } from 'redis';
     import { createClient as createClient4 } from 'redis4';
     import { createCluster as createCluster5 } from 'redis5';
     import { createTokenBudget, redisStore, type FixedWindow, type Period, type ReservedPart, type SlidingWindow, type Store, type TokenBudgetOptions } from 'token-budget';
     import { startOfflineUpstream, type OfflineUpstream, type UpstreamBehaviour, type UpstreamCall } from 'token-budget/testing';
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
     // The test kit, typed.
     const slow: UpstreamBehaviour = { kind: 'delay', ms: 10 };
     const upstream: Promise<OfflineUpstream> = startOfflineUpstream({ behave: () => slow, chunkIntervalMs: 1 });
     const billed = (call: UpstreamCall): number | undefined => call.usage?.total_tokens;
     // @ts-expect-error no such behaviour
     startOfflineUpstream({ behave: () => ({ kind: 'explode' }) });
     void [stores, day, minute, part, upstream, billed];`,
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

describe('token-budget/koa from the tarball', () => {
  /** Files and packages `entry` loads, beyond what was loaded before. */
  const loadedBy = (entry: string) => {
    const script = `const before = new Set(Object.keys(require.cache));
      const loaded = require('${entry}');
      const files = Object.keys(require.cache).filter((file) => !before.has(file)).map((file) => file.slice(file.lastIndexOf('node_modules/')));
      console.log(JSON.stringify({ files, exports: Object.keys(loaded) }));`;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' })) as {
      files: string[];
      exports: string[];
    };
  };

  test('require() of each entry loads nothing of the other framework', () => {
    const koa = loadedBy('token-budget/koa');
    expect(koa.exports).toEqual(expect.arrayContaining(EXPORTS));
    expect(koa.files.filter((file) => /\/express\/|\/dist\/cjs\/middleware\//.test(file))).toEqual([]);
    const express = loadedBy('token-budget');
    expect(express.files.filter((file) => /node_modules\/koa\/|\/dist\/cjs\/koa\//.test(file))).toEqual([]);
  });

  test('import: a Koa 3 app with @koa/bodyparser answers an input over budget with the JSON 413', () => {
    const file = path.join(SANDBOX, 'koa-consumer.mjs');
    writeFileSync(
      file,
      `import Koa from 'koa';
       import { bodyParser } from '@koa/bodyparser';
       import { createTokenBudget, countTokens } from 'token-budget/koa';
       const budget = createTokenBudget({ features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } } });
       const app = new Koa();
       app.use(bodyParser());
       app.use(budget.featureBudget('chat'));
       app.use((ctx) => { ctx.body = { input: ctx.state.tokenBudget.inputTokens }; });
       const server = app.listen(0, '127.0.0.1');
       await new Promise((resolve) => server.once('listening', resolve));
       const post = (content) => fetch('http://127.0.0.1:' + server.address().port, {
         method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content }] }),
       }).then(async (res) => [res.status, await res.json()]);
       console.log(JSON.stringify([await post('hi'), await post('word '.repeat(50)), countTokens('hello world', 'gpt-4o')]));
       server.close();`,
    );
    const [served, refused, counted] = JSON.parse(execFileSync(process.execPath, [file], { cwd: SANDBOX, encoding: 'utf8' }));
    expect(served).toEqual([200, { input: expect.any(Number) }]);
    expect(refused).toEqual([413, { error: expect.objectContaining({ type: 'input_too_large' }) }]);
    expect(counted).toBe(2);
  });

  test('the declarations type-check a Koa consumer and a store author', () => {
    const file = path.join(SANDBOX, 'koa-consumer.ts');
    writeFileSync(
      file,
      `import Koa from 'koa';
       import { createTokenBudget, memoryStore, type TokenBudgetOptions, type RejectHandler } from 'token-budget/koa';
       import { StoreUnavailableError, type Store, type ReserveRequest, type ReserveResult } from 'token-budget/store';
       const onReject: RejectHandler = (error, ctx) => { ctx.status = error.status; ctx.body = { refused: error.type }; };
       const options: TokenBudgetOptions = { features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } }, store: memoryStore(), onReject };
       const budget = createTokenBudget(options);
       const app = new Koa();
       app.use(budget.errorHandler());
       app.use(budget.featureBudget('chat'));
       app.use(budget.userQuota({ user: (ctx) => (ctx.state.user as { id?: string } | undefined)?.id, limits: 1000 }));
       app.use((ctx) => { ctx.body = { input: ctx.state.tokenBudget?.inputTokens }; });
       // A store author's wrapper, typed from token-budget/store.
       const down = (inner: Store): Store => ({ ...inner, reserve: (request: ReserveRequest): Promise<ReserveResult> => Promise.reject(new StoreUnavailableError(String(request.input))) });
       void down;`,
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
    const testing = files.filter((file) => file.includes('/dist/cjs/testing/'));
    console.log(JSON.stringify({ packages: [...packages], testing, heapMb, redisStore: typeof tb.redisStore }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { cwd: SANDBOX, encoding: 'utf8' });
  const { packages, testing, heapMb, redisStore } = JSON.parse(out) as {
    packages: string[];
    testing: string[];
    heapMb: number;
    redisStore: string;
  };
  expect(redisStore).toBe('function');
  // The test kit is an entry of its own: an app that does not import it does not load it.
  expect(testing).toEqual([]);
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

describe('token-budget/testing from the tarball, through the openai SDK', () => {
  test("require(): a chat reply whose usage is what the upstream billed, counted by the package's own counter", () => {
    const script = `(async () => {
      const { startOfflineUpstream } = require('token-budget/testing');
      const { countChatTokens } = require('token-budget');
      const OpenAI = require('openai');
      const upstream = await startOfflineUpstream({ completionTokens: () => 5 });
      const client = new OpenAI({ baseURL: upstream.baseURL, apiKey: 'offline' });
      const messages = [{ role: 'user', content: 'Say hi' }];
      const reply = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 50 });
      await upstream.idle();
      console.log(JSON.stringify({
        content: reply.choices[0].message.content,
        usage: reply.usage,
        counted: countChatTokens(messages, { model: 'gpt-4o' }),
        billed: upstream.billedTokens(),
        calls: upstream.calls.map((call) => [call.request.api, call.cap, call.outcome]),
      }));
      await upstream.close();
    })().catch((err) => { console.error(err); process.exit(1); });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: SANDBOX, encoding: 'utf8' })) as {
      content: string;
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
      counted: number;
      billed: number;
      calls: unknown[];
    };
    expect(out.content).toBe('ok ok ok ok ok');
    expect(out.usage).toEqual({ prompt_tokens: out.counted, completion_tokens: 5, total_tokens: out.counted + 5 });
    expect(out.billed).toBe(out.usage.total_tokens);
    expect(out.calls).toEqual([['chat', 50, 'answered']]);
  });

  test('import: a staged failure, a stream cut short and the Responses API, each billed as a provider bills', () => {
    const file = path.join(SANDBOX, 'testing-consumer.mjs');
    writeFileSync(
      file,
      `import { startOfflineUpstream } from 'token-budget/testing';
       import OpenAI from 'openai';
       const staged = [{ kind: 'error', status: 429, headers: { 'retry-after': '1' } }, { kind: 'stream-cut', afterTokens: 3 }, { kind: 'reply' }];
       const upstream = await startOfflineUpstream({ behave: () => staged.shift() });
       const client = new OpenAI({ baseURL: upstream.baseURL, apiKey: 'offline', maxRetries: 0 });
       const input = [{ role: 'user', content: 'Say hi' }];
       const refused = await client.chat.completions.create({ model: 'gpt-4o', messages: input }).catch((err) => err.status);
       const streamed = [];
       const cut = await (async () => {
         const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: input, stream: true });
         for await (const chunk of stream) streamed.push(chunk.choices[0]?.delta.content ?? '');
       })().catch((err) => err.constructor.name);
       const response = await client.responses.create({ model: 'gpt-4o', input: 'Say hi', max_output_tokens: 16 });
       await upstream.idle();
       console.log(JSON.stringify({
         refused, cut, streamed: streamed.join(''), text: response.output_text, usage: response.usage,
         bills: upstream.calls.map((call) => call.usage?.completion_tokens ?? 0),
         prompts: upstream.calls.map((call) => call.promptTokens),
         billed: upstream.billedTokens(),
       }));
       await upstream.close();`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [file], { cwd: SANDBOX, encoding: 'utf8' })) as {
      refused: number;
      cut: string;
      streamed: string;
      text: string;
      usage: { input_tokens: number; output_tokens: number; total_tokens: number };
      bills: number[];
      prompts: number[];
      billed: number;
    };
    expect(out.refused).toBe(429);
    expect(out.cut).toMatch(/Error/);
    expect(out.streamed).toBe('ok ok ok');
    // 16, the Responses API's floor for max_output_tokens.
    expect(out.text).toBe('ok' + ' ok'.repeat(15));
    expect(out.usage).toMatchObject({ output_tokens: 16, total_tokens: out.usage.input_tokens + 16 });
    // Nothing for the refusal, the 3 tokens sent before the cut, the whole response.
    expect(out.bills).toEqual([0, 3, 16]);
    expect(out.billed).toBe(out.prompts[1]! + 3 + out.usage.total_tokens);
  });

  test("the testing guide's test, run by Jest against the tarball", () => {
    const guide = readFileSync(path.join(ROOT, 'docs', 'guides', 'testing-your-app.md'), 'utf8');
    const section = guide.slice(guide.indexOf('# Testing your app without an OpenAI key\n'));
    writeFileSync(path.join(SANDBOX, 'app.test.ts'), /```ts\n([\s\S]*?)```/.exec(section)![1]!);
    const config = {
      rootDir: SANDBOX,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/app.test.ts'],
      transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
    };
    const jest = require.resolve('jest/bin/jest');
    const out = execFileSync(process.execPath, [jest, '--config', JSON.stringify(config), '--json'], {
      cwd: SANDBOX,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report = JSON.parse(out) as { numPassedTests: number; numFailedTests: number };
    expect(report).toMatchObject({ numPassedTests: 1, numFailedTests: 0 });
  }, 60_000);
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
