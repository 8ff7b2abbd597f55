// onExceed 'summarize' over HTTP: the oldest turns become one summary by a cheaper model, itself budgeted; its failures fall back.
import express from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, createTokenBudget, TokenBudgetConfigError, type ChatMessage, type TokenBudget } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamBehaviour } from '../../lib/testing';
import type { BudgetContext } from '../../lib/context';
import type { FeatureOptions, SummaryCache } from '../../lib/types';
import { words } from '../helpers/app';
import { until } from '../helpers/until';

/** A system prompt, six old turns of about 80 tokens each, and the newest question: far over 300 tokens. */
const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  ...Array.from({ length: 6 }, (_, i): ChatMessage[] => [
    { role: 'user', content: `Question ${i}: ${words(45, 'apple')}` },
    { role: 'assistant', content: `Answer ${i}: ${words(30, 'pear')}` },
  ]).flat(),
  { role: 'user', content: 'And what about plums?' },
];
const WHOLE_TOKENS = countChatTokens(CONVERSATION, { model: 'gpt-4o' });

interface SummarizeApp {
  app: express.Express;
  budget: TokenBudget;
  upstream: OfflineUpstream;
  warnings: string[];
}

let upstream: OfflineUpstream | undefined;
afterEach(() => upstream?.close());

/**
 * POST /chat for feature chat (gpt-4o, maxInput 300, maxOutput 50, summarized by gpt-4o-mini into at
 * most 40 tokens, timed out after `summarizerTimeoutMs`) under a user quota of 10,000; the summarizer
 * behaves as `summarizer` says.
 */
async function summarizeApp(
  summarizer: UpstreamBehaviour = { kind: 'reply' },
  feature: Partial<FeatureOptions> = {},
  summarizerTimeoutMs = 300,
): Promise<SummarizeApp> {
  upstream = await startOfflineUpstream({
    behave: (req) => ((req.body as { model?: string }).model === 'gpt-4o-mini' ? summarizer : { kind: 'reply' }),
    completionTokens: (req) => ((req.body as { model?: string }).model === 'gpt-4o-mini' ? 30 : 20),
  });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.baseURL, maxRetries: 0 });
  const warnings: string[] = [];
  const budget = createTokenBudget({
    features: {
      chat: {
        maxInput: 300,
        maxOutput: 50,
        model: 'gpt-4o',
        onExceed: 'summarize',
        summarizer: { client, model: 'gpt-4o-mini', maxInput: 1000, maxOutput: 40, timeoutMs: summarizerTimeoutMs },
        ...feature,
      },
    },
    onWarning: (warning) => warnings.push(warning.code),
  });
  const app = express();
  app.use(express.json());
  app.post(
    '/chat',
    budget.featureBudget('chat'),
    budget.userQuota({ user: () => 'alice', limits: 10_000 }),
    budget.llmHandler({
      client,
      respond: (completion, req) => ({ completion, degraded: (req.tokenBudget as BudgetContext).degraded }),
    }),
  );
  app.use(budget.errorHandler());
  return { app, budget, upstream, warnings };
}

const chat = (app: express.Express) => request(app).post('/chat').send({ messages: CONVERSATION });

test('the oldest turns are replaced by one summary; the system prompt and the newest turns stay whole; both calls are counted', async () => {
  const { app, budget } = await summarizeApp();
  const res = await chat(app).expect(200);
  const [summaryCall, mainCall] = upstream!.calls;
  expect(upstream!.calls).toHaveLength(2);
  // The summary call: gpt-4o-mini, the instruction and the transcript of the summarized turns, capped at 40.
  expect(summaryCall!.request.body).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 40 });
  const [instruction, transcript] = (summaryCall!.request.body as { messages: ChatMessage[] }).messages;
  expect(instruction!.role).toBe('system');
  expect(transcript!.content).toMatch(/^user: Question 0: apple/);
  // The main call: the system prompt, the summary, then whole turns ending with the newest question.
  const sent = (mainCall!.request.body as { messages: ChatMessage[] }).messages;
  expect(mainCall!.request.body).toMatchObject({ model: 'gpt-4o' });
  expect(sent[0]).toEqual(CONVERSATION[0]);
  expect(sent[1]).toEqual({ role: 'system', content: expect.stringMatching(/^Summary of the earlier conversation:\n\S/) });
  const keptTurns = sent.slice(2);
  expect(keptTurns).toEqual(CONVERSATION.slice(CONVERSATION.length - keptTurns.length));
  expect(keptTurns[0]!.role).toBe('user');
  const summarized = CONVERSATION.length - 1 - keptTurns.length;
  expect(transcript!.content).toBe(
    CONVERSATION.slice(1, 1 + summarized)
      .map((m) => `${m.role}: ${m.content as string}`)
      .join('\n'),
  );
  expect(res.body.degraded).toEqual({
    strategy: 'summarize',
    droppedMessages: summarized,
    originalTokens: WHOLE_TOKENS,
    summary: {
      model: 'gpt-4o-mini',
      summarizedMessages: summarized,
      tokensBefore: WHOLE_TOKENS,
      tokensAfter: mainCall!.promptTokens,
      usage: { input: summaryCall!.promptTokens, cachedInput: 0, output: 30 },
      cached: false,
    },
  });
  expect(mainCall!.promptTokens).toBeLessThanOrEqual(300);
  // Every token billed, the summary's included, is in the user's quota.
  expect(await budget.usage.user('alice')).toMatchObject({
    used: summaryCall!.usage!.total_tokens + mainCall!.usage!.total_tokens,
  });
});

test('a summarizer that fails falls back to truncation; the refused call costs nothing', async () => {
  const { app, budget, warnings } = await summarizeApp({ kind: 'error', status: 500 });
  const res = await chat(app).expect(200);
  expect(upstream!.calls).toHaveLength(2);
  expect(res.body.degraded).toMatchObject({ strategy: 'truncate', originalTokens: WHOLE_TOKENS });
  const sent = (upstream!.calls[1]!.request.body as { messages: ChatMessage[] }).messages;
  expect(sent.some((m) => String(m.content).startsWith('Summary'))).toBe(false);
  expect(warnings).toContain('TB_SUMMARY_FAILED');
  expect(await budget.usage.user('alice')).toMatchObject({ used: upstream!.calls[1]!.usage!.total_tokens });
});

test("summarizeFallback 'reject' answers 413 when the summarizer fails, and calls the model no further", async () => {
  const { app, budget } = await summarizeApp({ kind: 'error', status: 500 }, { summarizeFallback: 'reject' });
  const res = await chat(app).expect(413);
  expect(res.body.error).toEqual({
    type: 'input_too_large',
    message: 'The input is too large and could not be summarized. This feature accepts at most 300 input tokens.',
  });
  expect(upstream!.calls).toHaveLength(1);
  expect(await budget.usage.user('alice')).toMatchObject({ used: 0 });
});

test('a summarizer that times out is charged its whole reservation, and the request is truncated', async () => {
  const { app, budget } = await summarizeApp({ kind: 'hang' });
  const res = await chat(app).expect(200);
  expect(res.body.degraded.strategy).toBe('truncate');
  const [summaryCall, mainCall] = upstream!.calls;
  // Sent and never answered: the input and the 40-token cap, as for any call.
  expect(await budget.usage.user('alice')).toMatchObject({
    used: summaryCall!.promptTokens + 40 + mainCall!.usage!.total_tokens,
  });
});

test.each([false, true])(
  'a client that hangs up during the summary (stream: %s): the summary is settled with its usage, the main call never made',
  async (stream) => {
    // The summary takes 200 ms, well within its time-out even on a loaded machine.
    const { app, budget } = await summarizeApp({ kind: 'delay', ms: 200 }, {}, 10_000);
    // A server of the test's own: supertest does not close the one it makes for a request that was aborted, and a
    // server left listening keeps Jest's worker from exiting.
    const server = app.listen(0);
    try {
      const pending = request(server).post('/chat').send({ messages: CONVERSATION, stream });
      const answered = pending.then(
        () => 'answered',
        () => 'hung up',
      );
      // The client leaves once the summary call has reached the upstream, however slow the machine.
      await until(() => upstream!.calls.length === 1);
      pending.abort();
      expect(await answered).toBe('hung up');
      // A summary call left alone is answered and billed; one stopped with the client would have no usage.
      await upstream!.calls[0]!.ended;
      expect(upstream!.calls[0]!.outcome).toBe('answered');
      await until(async () => (await budget.usage.user('alice')).used > 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(upstream!.calls).toHaveLength(1);
      expect(await budget.usage.user('alice')).toMatchObject({ used: upstream!.calls[0]!.usage!.total_tokens });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
);

test('a cached summary is used again: no second summary call', async () => {
  const store = new Map<string, string>();
  const summaryCache: SummaryCache = { get: (key) => store.get(key), set: (key, summary) => store.set(key, summary) };
  const { app } = await summarizeApp({ kind: 'reply' }, { summaryCache });
  const first = await chat(app).expect(200);
  const second = await chat(app).expect(200);
  expect(upstream!.calls.map((call) => (call.request.body as { model: string }).model)).toEqual([
    'gpt-4o-mini',
    'gpt-4o',
    'gpt-4o',
  ]);
  expect(store.size).toBe(1);
  expect(second.body.degraded.summary).toMatchObject({ cached: true, usage: { input: 0, cachedInput: 0, output: 0 } });
  expect((upstream!.calls[2]!.request.body as { messages: ChatMessage[] }).messages).toEqual(
    (upstream!.calls[1]!.request.body as { messages: ChatMessage[] }).messages,
  );
  expect(first.body.degraded.summary.cached).toBe(false);
});

test("onExceed 'summarize' without a summarizer is a configuration error", () => {
  expect(() =>
    createTokenBudget({ features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o', onExceed: 'summarize' } } }),
  ).toThrow(
    new TokenBudgetConfigError(
      'TB_INVALID_OPTION',
      "features.chat: onExceed 'summarize' needs the feature's summarizer: { client, model, maxInput, maxOutput }.",
    ),
  );
});
