// token-budget/testing as its TSDoc promises, through the real openai SDK (the defaults, the cap, slow and usage-less replies, idle()), and its option table in the docs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { countChatTokens } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamBehaviour } from '../../lib/testing';

const messages = [{ role: 'user' as const, content: 'Say hi' }];
let upstream: OfflineUpstream;
let client: OpenAI;
const staged: UpstreamBehaviour[] = [];

beforeEach(async () => {
  upstream = await startOfflineUpstream({ behave: () => staged.shift() ?? { kind: 'reply' } });
  client = new OpenAI({ baseURL: upstream.baseURL, apiKey: 'offline', maxRetries: 0 });
});
afterEach(() => upstream.close());

test('by default it replies 24 tokens, stopped, and reports the prompt as the package counts it', async () => {
  const reply = await client.chat.completions.create({ model: 'gpt-4o', messages });
  const prompt = countChatTokens(messages, { model: 'gpt-4o' });
  expect(reply.choices[0]!.message.content).toBe(Array(24).fill('ok').join(' '));
  expect(reply.choices[0]!.finish_reason).toBe('stop');
  expect(reply.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 24, total_tokens: prompt + 24 });
  expect(upstream.calls[0]).toMatchObject({ cap: undefined, outcome: 'answered', request: { api: 'chat' } });
});

test('a reply that fills the cap is cut: length, or incomplete on the Responses API', async () => {
  const chat = await client.chat.completions.create({ model: 'gpt-4o', messages, max_completion_tokens: 3 });
  // 16: the Responses API's floor (below it, a 400).
  const response = await client.responses.create({ model: 'gpt-4o', input: 'Say hi', max_output_tokens: 16 });
  expect([chat.choices[0]!.finish_reason, chat.usage?.completion_tokens]).toEqual(['length', 3]);
  expect([response.status, response.output_text, response.usage?.output_tokens]).toEqual([
    'incomplete',
    'ok' + ' ok'.repeat(15),
    16,
  ]);
  expect(upstream.billedTokens()).toBe(chat.usage!.total_tokens + response.usage!.total_tokens);
});

test('slow, and without usage: the reply still bills what it generated', async () => {
  staged.push({ kind: 'delay', ms: 300 }, { kind: 'no-usage' });
  const started = performance.now();
  await client.chat.completions.create({ model: 'gpt-4o', messages });
  expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  const bare = await client.chat.completions.create({ model: 'gpt-4o', messages });
  expect(bare.usage).toBeUndefined();
  expect(upstream.calls[1]!.usage?.completion_tokens).toBe(24);
  expect(upstream.billedTokens()).toBe(2 * upstream.calls[0]!.usage!.total_tokens);
});

test('idle() waits for a call still open, until its client leaves', async () => {
  staged.push({ kind: 'hang' });
  const controller = new AbortController();
  const call = client.chat.completions
    .create({ model: 'gpt-4o', messages }, { signal: controller.signal })
    .catch(() => 'aborted');
  while (upstream.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  let idle = false;
  const waiting = upstream.idle().then(() => (idle = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(idle).toBe(false);
  controller.abort();
  await waiting;
  expect(await call).toBe('aborted');
  expect(upstream.calls[0]).toMatchObject({ outcome: 'client-gone', completionTokens: 0 });
  expect(upstream.billedTokens()).toBe(0);
});

test("the docs' option table lists every option with its TSDoc default", () => {
  const root = path.resolve(__dirname, '../..');
  const docs = existsSync(path.join(root, 'docs'))
    ? readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.md'))
    : [];
  const text = [path.join(root, 'README.md'), ...docs.map((file) => path.join(root, 'docs', file))]
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const table = new Map([...text.matchAll(/^\| `(\w+)` +\| `([^|]+)` +\|/gm)].map(([, name, value]) => [name!, value!] as const));
  const source = readFileSync(path.join(root, 'lib', 'testing', 'types.ts'), 'utf8');
  const options = source.slice(source.indexOf('export interface OfflineUpstreamOptions'));
  const documented = [
    ...options.slice(0, options.indexOf('\n}\n')).matchAll(/@default ([^\n]*?)(?: \*\/)?\n[^]*?^ {2}(\w+)\?:/gm),
  ];
  expect(documented.map(([, , name]) => name)).toEqual([
    'behave',
    'completionTokens',
    'chunkIntervalMs',
    'reasoningTokens',
    'deployments',
    'extraUsage',
    'port',
  ]);
  for (const [, tsdoc, name] of documented) expect([name, tsdoc!.startsWith(table.get(name!) ?? '?')]).toEqual([name, true]);
});
