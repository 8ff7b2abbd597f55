// llmHandler with "stream": true, through the real openai SDK on both sides: chunks, usage, hang-ups, cut streams.
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens } from '../../lib';
import type { CallOptions } from '../../lib/call';
import { STREAM_IN_FLIGHT_MARGIN, type CallParams } from '../../lib/context';
import { fallbackModel, lookupModel } from '../../lib/tokens/models';
import { chatDailyScope, EXPRESS, listenTestApp, type ListeningTestApp, type TestAppOptions } from '../helpers/app';
import { until } from '../helpers/until';

const DAILY = 10_000;
const dailyScope = chatDailyScope(DAILY);
const CAP = 100;
const features = { chat: { maxInput: 200, maxOutput: CAP, model: 'gpt-4o', dailyTokens: DAILY } };
const messages = [{ role: 'user' as const, content: 'Hi there' }];
const promptTokens = countChatTokens(messages, { model: 'gpt-4o' });

let t: ListeningTestApp;

async function start(options: TestAppOptions = {}): Promise<void> {
  t = await listenTestApp({ ...options, budget: { features, ...options.budget } });
}

afterEach(() => t?.stop());

const dailyUsed = async () => (await t.budget.store.usage(dailyScope)).used;

/** Posts through the SDK to /chat (the SDK appends /chat/completions; the app answers at /chat). */
const streamFromRoute = (body: Record<string, unknown> = {}, options: OpenAI.RequestOptions = {}) =>
  t.routeClient.chat.completions.create({ model: 'ignored', messages, stream: true, ...body }, {
    path: '/chat',
    ...options,
  } as OpenAI.RequestOptions);

/** The text deltas of a stream from the route, read through the SDK in either API's format. */
async function* textDeltas(api: 'chat' | 'responses', options: OpenAI.RequestOptions = {}): AsyncGenerator<string> {
  if (api === 'chat') {
    for await (const chunk of await streamFromRoute({}, options))
      if (chunk.choices[0]?.delta.content) yield chunk.choices[0].delta.content;
    return;
  }
  const events = await t.routeClient.responses.create({ model: 'ignored', input: messages[0].content, stream: true }, {
    path: '/chat',
    ...options,
  } as OpenAI.RequestOptions);
  for await (const event of events) if (event.type === 'response.output_text.delta') yield event.delta;
}

describe.each(Object.entries(EXPRESS))('%s: a full stream', (_name, express) => {
  test('text reaches the SDK chunk for chunk and is settled to the usage chunk, which the client did not ask for', async () => {
    await start({ express, upstream: { completionTokens: () => 20 } });
    const stream = await streamFromRoute();
    let text = '';
    let usageChunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks++;
    }
    expect(text).toBe('ok' + ' ok'.repeat(19));
    expect(usageChunks).toBe(0);
    const [call] = t.upstream.calls;
    expect(call.request.body.stream_options).toEqual({ include_usage: true });
    expect(await dailyUsed()).toBe(call.usage!.total_tokens);
  });
});

test('the usage chunk is passed on when the client asked for it; RateLimit headers go with the head', async () => {
  await start({ upstream: { completionTokens: () => 7 } });
  const res = await request(t.app)
    .post('/chat')
    .send({ messages, stream: true, stream_options: { include_usage: true } });
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  const events = res.text.split('\n\n').filter(Boolean);
  expect(events.at(-1)).toBe('data: [DONE]');
  const usage = JSON.parse(events.at(-2)!.slice('data: '.length)).usage;
  expect(usage).toEqual(t.upstream.calls[0].usage);
  expect(await dailyUsed()).toBe(usage.total_tokens);
});

test('tool-call deltas: the SDK assembles the call, and it is settled to the usage chunk', async () => {
  const toolCall = { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', unit: 'celsius' }) };
  await start({ upstream: { behave: () => ({ kind: 'reply', toolCall }) } });
  const stream = t.routeClient.chat.completions.stream({ model: 'ignored', messages }, { path: '/chat' });
  const completion = await stream.finalChatCompletion();
  expect(completion.choices[0].message.tool_calls?.[0]).toMatchObject({ function: toolCall });
  expect(await dailyUsed()).toBe(t.upstream.calls[0].usage!.total_tokens);
});

describe('a stream without a usage chunk', () => {
  test('is charged its whole reservation by default (onMissingUsage)', async () => {
    await start({ upstream: { behave: () => ({ kind: 'no-usage' }), completionTokens: () => 30 } });
    for await (const chunk of await streamFromRoute()) void chunk;
    expect(await dailyUsed()).toBe(promptTokens + t.upstream.calls[0].cap!);
  });

  test("with onMissingUsage 'count-reply', is settled at the input plus the output counted from its deltas", async () => {
    await start({
      budget: { onMissingUsage: 'count-reply' },
      upstream: { behave: () => ({ kind: 'no-usage' }), completionTokens: () => 30 },
    });
    let chunks = 0;
    for await (const chunk of await streamFromRoute()) if (chunk.choices[0]?.delta.content) chunks++;
    expect(chunks).toBe(30);
    expect(await dailyUsed()).toBe(promptTokens + 30);
  });
});

describe('an upstream that fails mid-stream', () => {
  test.each([
    ['chat', 'stream-cut'],
    ['chat', 'stream-error'],
    ['responses', 'stream-cut'],
    ['responses', 'stream-error'],
  ] as const)(
    "%s, %s: the SDK raises an APIError upstream_error (not the upstream's text), and with onMissingUsage 'count-reply' what was generated is settled",
    async (api, kind) => {
      await start({
        budget: { onMissingUsage: 'count-reply' },
        upstream: { behave: () => ({ kind, afterTokens: 12 }), completionTokens: () => 40 },
      });
      let text = '';
      const reading = (async () => {
        for await (const delta of textDeltas(api)) text += delta;
      })();
      await expect(reading).rejects.toMatchObject({ constructor: OpenAI.APIError, error: { type: 'upstream_error' } });
      await expect(reading).rejects.not.toMatchObject({ message: expect.stringMatching(/staged/) });
      expect(text).toBe('ok' + ' ok'.repeat(11));
      await until(async () => (await dailyUsed()) > 0);
      expect(t.upstream.calls[0].sentTokens).toBe(12);
      expect(await dailyUsed()).toBe(promptTokens + 12);
    },
  );

  test('an error before the first byte is the JSON refusal, and nothing stays reserved', async () => {
    await start({ upstream: { behave: () => ({ kind: 'error', status: 429, headers: { 'retry-after': '3' } }) } });
    const res = await request(t.app).post('/chat').send({ messages, stream: true });
    expect(res.status).toBe(503);
    expect(res.body.error.type).toBe('upstream_rate_limited');
    expect(await dailyUsed()).toBe(0);
  });
});

test.each([['chat'], ['responses']] as const)(
  '%s: a client that leaves after 5 chunks: aborted upstream within 100 ms, charged input + sent + at most the margin',
  async (api) => {
    // When the route saw the client leave: the lag measured is ours, not the client's own socket teardown.
    let routeSawLeave = 0;
    await start({
      upstream: { completionTokens: () => 90, chunkIntervalMs: 15 },
      chain: (b, client) => [
        (_req, res, next) => {
          res.on('close', () => (routeSawLeave = performance.now()));
          next();
        },
        b.featureBudget('chat'),
        b.llmHandler({ client }),
      ],
    });
    const leave = new AbortController();
    let received = 0;
    for await (const delta of textDeltas(api, { signal: leave.signal })) if (delta && ++received === 5) leave.abort();
    await t.upstream.idle();
    const [call] = t.upstream.calls;
    expect(call.outcome).toBe('client-gone');
    expect(call.closedAt! - routeSawLeave).toBeLessThan(100);
    expect(call.sentTokens).toBeLessThan(90);
    await until(async () => (await dailyUsed()) > 0);
    const used = await dailyUsed();
    // Never below what the upstream sent; not the whole reservation (input + 100).
    expect(used).toBeGreaterThanOrEqual(promptTokens + call.sentTokens);
    expect(used).toBeLessThanOrEqual(promptTokens + call.sentTokens + STREAM_IN_FLIGHT_MARGIN);
  },
);

test.each([['chat'], ['responses']] as const)(
  '%s: a stream past its time-out ends with an upstream_timeout error event, and is charged its reservation',
  async (api) => {
    await start({
      upstream: { completionTokens: () => 90, chunkIntervalMs: 20 },
      chain: (b, client) => [b.featureBudget('chat'), b.llmHandler({ client, api, timeoutMs: 200 })],
    });
    const reading = (async () => {
      for await (const delta of textDeltas(api)) void delta;
    })();
    await expect(reading).rejects.toMatchObject({ constructor: OpenAI.APIError, error: { type: 'upstream_timeout' } });
    await until(async () => (await dailyUsed()) > 0);
    expect(await dailyUsed()).toBe(promptTokens + CAP);
  },
);

test('a client that leaves before the first chunk: aborted upstream, charged input + the margin (not the reservation)', async () => {
  await start({ upstream: { behave: () => ({ kind: 'delay', ms: 2_000 }) } });
  const leave = new AbortController();
  const reading = streamFromRoute({}, { signal: leave.signal });
  await until(() => t.upstream.calls.length === 1);
  leave.abort();
  await expect(reading).rejects.toThrow();
  await t.upstream.idle();
  const [call] = t.upstream.calls;
  expect(call.outcome).toBe('client-gone');
  expect(call.sentTokens).toBe(0);
  await until(async () => (await dailyUsed()) > 0);
  expect(await dailyUsed()).toBe(promptTokens + STREAM_IN_FLIGHT_MARGIN);
});

describe('a reasoning model left mid-stream', () => {
  test.each([['o3-mini'], ['gpt-5-mini']])(
    '%s: charged the whole reservation, never below the upstream bill with its hidden reasoning tokens',
    async (model) => {
      await start({
        budget: { features: { chat: { ...features.chat, model } } },
        upstream: { completionTokens: () => 60, reasoningTokens: () => 50, chunkIntervalMs: 10 },
      });
      const leave = new AbortController();
      let received = 0;
      for await (const chunk of await streamFromRoute({}, { signal: leave.signal })) {
        if (chunk.choices[0]?.delta.content && ++received === 3) leave.abort();
      }
      await t.upstream.idle();
      const [call] = t.upstream.calls;
      expect(call.outcome).toBe('client-gone');
      await until(async () => (await dailyUsed()) > 0);
      const input = countChatTokens(messages, { model });
      // input + streamed + margin would be below the bill: the 50 hidden tokens were never streamed.
      expect(input + call.sentTokens + STREAM_IN_FLIGHT_MARGIN).toBeLessThan(call.usage!.total_tokens);
      expect(await dailyUsed()).toBe(input + CAP);
      expect(await dailyUsed()).toBeGreaterThanOrEqual(call.usage!.total_tokens);
    },
  );

  test('the model table knows which models hide reasoning tokens; an unknown model is taken to (errs high)', () => {
    expect(['o1', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5.1', 'gpt-5-nano'].map((m) => lookupModel(m)?.hiddenReasoning)).toEqual(
      Array(6).fill(true),
    );
    expect(['gpt-4o', 'gpt-4.1-mini', 'gpt-3.5-turbo', 'gpt-5-chat-latest'].map((m) => lookupModel(m)?.hiddenReasoning)).toEqual(
      Array(4).fill(false),
    );
    expect(fallbackModel('llama-3', 'cl100k_base').hiddenReasoning).toBe(true);
  });
});

test("stream: 'forbid' refuses a streamed body with 400 invalid_request; a bad value is a TB_INVALID_OPTION", async () => {
  await start({ chain: (b, client) => [b.featureBudget('chat'), b.llmHandler({ client, stream: 'forbid' })] });
  const res = await request(t.app).post('/chat').send({ messages, stream: true });
  expect(res.status).toBe(400);
  expect(res.body.error.type).toBe('invalid_request');
  expect(t.upstream.calls).toHaveLength(0);
  expect(() => t.budget.llmHandler({ client: t.client, stream: 'yes' as never })).toThrow(
    expect.objectContaining({ code: 'TB_INVALID_OPTION' }),
  );
});

test.each(['yes', 1, {}])('"stream": %j is a 400 invalid_request: nothing is sent, nothing charged', async (stream) => {
  await start();
  const res = await request(t.app).post('/chat').send({ messages, stream });
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ type: 'invalid_request', message: '"stream" must be true or false.' });
  expect(t.upstream.calls).toHaveLength(0);
  expect(await dailyUsed()).toBe(0);
});

test('"stream": false and null are a reply in one piece, as without it', async () => {
  await start();
  for (const stream of [false, null]) {
    const res = await request(t.app).post('/chat').send({ messages, stream });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('chat.completion');
  }
});

test.each(['run', 'runStream'] as const)(
  '%s in a handler of its own: the SDK stream is iterated, and settled to its usage when it ends (not its reservation)',
  async (method) => {
    await start({
      upstream: { completionTokens: () => 9 },
      chain: (b, client) => [
        b.featureBudget('chat'),
        async (req, res) => {
          const create = (params: CallParams, options: CallOptions) =>
            client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, options);
          const context = req.tokenBudget!;
          const stream = method === 'run' ? await context.run(create) : await context.runStream(create);
          let text = '';
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
          res.json({ text, used: await dailyUsed() });
        },
      ],
    });
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.body.text).toBe('ok' + ' ok'.repeat(8));
    expect(res.body.used).toBe(t.upstream.calls[0].usage!.total_tokens);
  },
);
