// The README's Quick starts, run as pasted: Express listens while Redis is down, then serves and counts once it is up; Koa serves.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import { unusedPort } from '../helpers/ports';
import { startRedis, type RedisServer } from '../helpers/redis';

const ROOT = path.resolve(__dirname, '../..');
/** Inside the repo, so that the block's imports resolve from its node_modules (a dot folder, out of tsc's and Jest's way). */
const DIR = path.join(ROOT, 'test', '.readme-blocks', `quickstart-${process.pid}`);

/** The first ```ts block after `heading`, importing the package (and its Koa entry) from lib/. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  return code.replace(
    /from 'token-budget(\/koa)?'/g,
    (_all, koa?: string) => `from ${JSON.stringify(path.join(ROOT, 'lib', koa ? 'koa/index.ts' : 'index.ts'))}`,
  );
}

/** Writes `code` into the blocks folder and runs it in its own process. */
function runBlock(name: string, code: string, env: Record<string, string>): ChildProcess {
  mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `${name}.ts`);
  writeFileSync(file, code);
  return spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: 'ignore' });
}

let upstream: OfflineUpstream;
let redis: RedisServer;
let app: ChildProcess;
let base: string;

beforeAll(async () => {
  upstream = await startOfflineUpstream({ completionTokens: () => 6 });
  redis = await startRedis();
  await redis.kill(); // down at start-up: the app must listen all the same
  const port = await unusedPort();
  base = `http://127.0.0.1:${port}`;
  app = runBlock('quickstart', readmeBlock('## Quick start'), {
    PORT: String(port),
    REDIS_URL: redis.url,
    OPENAI_BASE_URL: upstream.baseURL,
    OPENAI_API_KEY: 'sk-offline',
  });
}, 60_000);

afterAll(async () => {
  app?.kill();
  await redis?.close();
  await upstream?.close();
  rmSync(DIR, { recursive: true, force: true });
});

const chat = (user?: string, at = base) =>
  fetch(`${at}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(user ? { 'x-demo-user': user } : {}) },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Say hi' }] }),
  });

/** Retries `attempt` until it resolves (the app still starting, or Redis still connecting); Jest's time-out is the limit. */
async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

test('listens with Redis down, refusing what it cannot check; serves and counts once Redis is up', async () => {
  const refused = await eventually(() => chat('alice'));
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('budget_unavailable');
  expect(upstream.calls).toHaveLength(0);

  await redis.restart();
  const served = await eventually(async () => {
    const res = await chat('alice');
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    return res;
  });
  const { usage } = (await served.json()) as { usage: { total_tokens: number } };
  expect(usage.total_tokens).toBe(upstream.calls[0]!.usage!.total_tokens);
  const budget = await fetch(`${base}/budget`, { headers: { 'x-demo-user': 'alice' } });
  expect(await budget.json()).toMatchObject({ used: usage.total_tokens, limit: 10_000 });
  // The stand-in sign-in: no header is user "demo", on the free tier, not a 401.
  expect((await chat()).status).toBe(200);
}, 60_000);

test("the Koa quick start serves a chat and counts it in the user's quota", async () => {
  const koa = readmeBlock('### On Koa');
  expect(koa).toContain('app.listen(3000);');
  const port = await unusedPort();
  const koaApp = runBlock('quickstart-koa', koa.replace('app.listen(3000);', 'app.listen(Number(process.env.PORT));'), {
    PORT: String(port),
    OPENAI_BASE_URL: upstream.baseURL,
    OPENAI_API_KEY: 'sk-offline',
  });
  try {
    const before = upstream.calls.length;
    const served = await eventually(() => chat('bob', `http://127.0.0.1:${port}`));
    expect(served.status).toBe(200);
    const { usage } = (await served.json()) as { usage: { total_tokens: number } };
    expect(usage.total_tokens).toBe(upstream.calls[before]!.usage!.total_tokens);
    // The RateLimit header is the user's quota after this call: 10,000 less what it used.
    expect(served.headers.get('ratelimit')).toContain(`"user";r=${10_000 - usage.total_tokens};`);
  } finally {
    koaApp.kill();
  }
}, 60_000);
