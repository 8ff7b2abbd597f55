// onExceed 'summarize' when the summary has no room beside the newest turns, or the prompt fits maxInput: which fallback applies, and when the summarizer is never called.
import express from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, createTokenBudget, type ChatMessage } from '../../lib';
import { SUMMARY_HEADING } from '../../lib/degrade/summarize';
import { countMessageTokens } from '../../lib/tokens/chat';
import { lookupModel } from '../../lib/tokens/models';
import type { BudgetContext } from '../../lib/context';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import { words } from '../helpers/app';

const MAX_INPUT = 300;

let upstream: OfflineUpstream | undefined;
afterEach(() => upstream?.close());

/** POST /chat for feature chat (gpt-4o, maxInput 300), summarized by gpt-4o-mini into at most `summaryTokens`. */
async function summarizeApp(summaryTokens: number, summarizeFallback: 'truncate' | 'reject') {
  upstream = await startOfflineUpstream({ completionTokens: () => 20 });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.baseURL, maxRetries: 0 });
  const budget = createTokenBudget({
    features: {
      chat: {
        maxInput: MAX_INPUT,
        maxOutput: 50,
        model: 'gpt-4o',
        onExceed: 'summarize',
        summarizeFallback,
        summarizer: { client, model: 'gpt-4o-mini', maxInput: 1000, maxOutput: summaryTokens },
      },
    },
    onWarning: () => {},
  });
  const app = express();
  app.use(express.json());
  app.post(
    '/chat',
    budget.featureBudget('chat'),
    budget.llmHandler({
      client,
      respond: (_completion, req) => {
        const { degraded, messages } = req.tokenBudget as BudgetContext;
        return { strategy: degraded?.strategy, messages };
      },
    }),
  );
  app.use(budget.errorHandler());
  return app;
}

const summarizerCalls = () => upstream!.calls.filter((call) => call.request.body.model === 'gpt-4o-mini').length;

/** Two old turns of about 80 tokens each, then a newest question of about 200 tokens. */
const LONG_QUESTION: ChatMessage[] = [
  { role: 'user', content: words(70, 'apple') },
  { role: 'assistant', content: words(70, 'pear') },
  { role: 'user', content: words(200, 'plum') },
];

describe('a newest question that fits maxInput but leaves no room for a summary', () => {
  test("summarizeFallback 'reject': 413, saying why, and the summarizer is never called", async () => {
    const app = await summarizeApp(150, 'reject');
    const res = await request(app).post('/chat').send({ messages: LONG_QUESTION });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toBe(
      'The input is too large, and its newest turns leave no room for a summary. This feature accepts at most 300 input tokens.',
    );
    expect(upstream!.calls).toHaveLength(0);
  });

  test("summarizeFallback 'truncate': the older turns are dropped and the summarizer is never called", async () => {
    const app = await summarizeApp(150, 'truncate');
    const res = await request(app).post('/chat').send({ messages: LONG_QUESTION });
    expect(res.status).toBe(200);
    expect(res.body.strategy).toBe('truncate');
    expect(res.body.messages).toEqual([LONG_QUESTION[2]]);
    expect(summarizerCalls()).toBe(0);
  });
});

test('a prompt within maxInput is sent whole, even when it would leave no room for a summary', async () => {
  const app = await summarizeApp(150, 'reject');
  const fits: ChatMessage[] = [
    { role: 'user', content: words(80, 'apple') },
    { role: 'assistant', content: words(80, 'pear') },
    { role: 'user', content: words(80, 'plum') },
  ];
  const res = await request(app).post('/chat').send({ messages: fits });
  expect(res.status).toBe(200);
  expect(res.body.strategy).toBeUndefined();
  expect(res.body.messages).toEqual(fits);
  expect(summarizerCalls()).toBe(0);
});

test('the room for the summary is maxInput less the heading and the summary: one token short, and the summarizer is never called', async () => {
  const newest: ChatMessage = { role: 'user', content: words(200, 'plum') };
  const newestTokens = countChatTokens([newest], { model: 'gpt-4o' });
  const heading = countMessageTokens({ role: 'system', content: `${SUMMARY_HEADING}\n` }, lookupModel('gpt-4o')!);
  // The newest question needs one token more than maxInput leaves beside the heading and a summary this long.
  const app = await summarizeApp(MAX_INPUT - heading - (newestTokens - 1), 'reject');
  const res = await request(app)
    .post('/chat')
    .send({ messages: [...LONG_QUESTION.slice(0, 2), newest] });
  expect(res.status).toBe(413);
  expect(summarizerCalls()).toBe(0);
});

test('with one token more of room, the older turns are summarized', async () => {
  const newest: ChatMessage = { role: 'user', content: words(200, 'plum') };
  const newestTokens = countChatTokens([newest], { model: 'gpt-4o' });
  const heading = countMessageTokens({ role: 'system', content: `${SUMMARY_HEADING}\n` }, lookupModel('gpt-4o')!);
  const app = await summarizeApp(MAX_INPUT - heading - newestTokens, 'reject');
  const res = await request(app)
    .post('/chat')
    .send({ messages: [...LONG_QUESTION.slice(0, 2), newest] });
  expect(res.status).toBe(200);
  expect(res.body.strategy).toBe('summarize');
  expect(summarizerCalls()).toBe(1);
});
