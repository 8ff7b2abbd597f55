// OpenAI-compatible servers (vLLM, Ollama, LiteLLM): usage with extra fields, no usage at all, stream_options ignored.
import request from 'supertest';
import { countChatTokens } from '../../lib';
import type { TokenBudgetOptions } from '../../lib';
import { chatDailyScope, readChatStream, startTestApp, type TestApp } from '../helpers/app';
import type { OfflineUpstreamOptions } from '../../lib/testing';

const DAILY = 10_000;
const CAP = 100;
const MODEL = 'llama3.1:8b';
const features = { chat: { maxInput: 200, maxOutput: CAP, model: MODEL, dailyTokens: DAILY } };
const messages = [{ role: 'user' as const, content: 'Hi there' }];
// The server counts as gpt-4o (o200k_base), the encoding the budget was told to count this model with.
const promptTokens = countChatTokens(messages, { model: 'gpt-4o' });
/** What vLLM and LiteLLM add to `usage`; `null` details where OpenAI sends objects. */
const EXTRA_USAGE = { prompt_tokens_details: null, completion_tokens_details: null, queue_time: 0.02, cost: 0.00013 };

let t: TestApp;

async function start(upstream: OfflineUpstreamOptions, budget: Partial<TokenBudgetOptions> = {}): Promise<void> {
  t = await startTestApp({ upstream, budget: { features, unknownModelEncoding: 'o200k_base', ...budget } });
}

afterEach(() => t?.close());

const dailyUsed = async () => (await t.budget.store.usage(chatDailyScope(DAILY))).used;

describe('usage with extra fields settles to its token counts', () => {
  test('a reply', async () => {
    await start({ completionTokens: () => 8, extraUsage: EXTRA_USAGE });
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    expect(res.body.usage).toMatchObject(EXTRA_USAGE);
    expect(await dailyUsed()).toBe(promptTokens + 8);
  });

  test('a stream', async () => {
    await start({ completionTokens: () => 8, extraUsage: EXTRA_USAGE });
    await readChatStream(t.app, { messages });
    expect(await dailyUsed()).toBe(promptTokens + 8);
  });
});

describe('no usage at all', () => {
  test("with onMissingUsage: 'count-reply', a reply is charged the counted input plus its counted output", async () => {
    await start({ completionTokens: () => 8, behave: () => ({ kind: 'no-usage' }) }, { onMissingUsage: 'count-reply' });
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    expect(res.body.usage).toBeUndefined();
    expect(await dailyUsed()).toBe(promptTokens + 8);
  });

  test('by default, a reply is charged its whole reservation', async () => {
    await start({ completionTokens: () => 8, behave: () => ({ kind: 'no-usage' }) });
    await request(t.app).post('/chat').send({ messages });
    expect(await dailyUsed()).toBe(promptTokens + CAP);
  });
});

describe('a server that ignores stream_options is settled as a stream without its usage chunk', () => {
  test('count-reply: the counted input plus the streamed output', async () => {
    await start({ completionTokens: () => 8, behave: () => ({ kind: 'no-usage' }) }, { onMissingUsage: 'count-reply' });
    await readChatStream(t.app, { messages });
    expect(t.upstream.calls[0].request.body.stream_options).toEqual({ include_usage: true });
    expect(await dailyUsed()).toBe(promptTokens + 8);
  });

  test('by default: the whole reservation', async () => {
    await start({ completionTokens: () => 8, behave: () => ({ kind: 'no-usage' }) });
    await readChatStream(t.app, { messages });
    expect(await dailyUsed()).toBe(promptTokens + CAP);
  });
});
