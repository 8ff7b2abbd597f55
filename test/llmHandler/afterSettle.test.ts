// afterSettle: each call that cost something is told once, with what it was charged; a released call is not.
import request from 'supertest';
import type { SettledCall } from '../../lib';
import type { UpstreamBehaviour } from '../../lib/testing';
import { readChatStream, startTestApp, type TestApp } from '../helpers/app';

const CAP = 50;
const messages = [{ role: 'user' as const, content: 'Hi there' }];

let t: TestApp;
let calls: SettledCall[];
afterEach(() => t?.close());

/** A route with no budget beyond the feature's own limits (it declares no scope), and a listener. */
async function start(behave?: () => UpstreamBehaviour): Promise<void> {
  calls = [];
  t = await startTestApp({
    upstream: { completionTokens: () => 7, ...(behave ? { behave } : {}) },
    chain: (budget, client) => [
      budget.featureBudget('chat'),
      (req, _res, next) => {
        req.tokenBudget!.afterSettle((call) => calls.push(call));
        next();
      },
      budget.llmHandler({ client }),
    ],
  });
}

test('a reply: told once with its usage and the model that answered, even where no budget was declared', async () => {
  await start();
  expect((await request(t.app).post('/chat').send({ messages })).status).toBe(200);
  const [upstream] = t.upstream.calls;
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({
    feature: 'chat',
    model: 'gpt-4o',
    responseModel: 'gpt-4o',
    usage: { input: upstream!.promptTokens, cachedInput: 0, output: 7 },
    report: { spent: [] },
  });
  expect(calls[0]!.context.scopes).toEqual([]);
});

test('a stream: told when it ends', async () => {
  await start();
  await readChatStream(t.app, { messages });
  expect(calls.map((call) => call.usage.output)).toEqual([7]);
});

test('a call sent and never answered usably is charged its reservation, and told so', async () => {
  await start(() => ({ kind: 'garbled' }));
  expect((await request(t.app).post('/chat').send({ messages })).status).toBe(502);
  expect(calls.map((call) => call.usage)).toEqual([{ input: t.upstream.calls[0]!.promptTokens, cachedInput: 0, output: CAP }]);
});

test('a call the provider refused is released, and nobody is told', async () => {
  await start(() => ({ kind: 'error', status: 500 }));
  expect((await request(t.app).post('/chat').send({ messages })).status).toBe(502);
  expect(calls).toEqual([]);
});
