// llmHandler and run()/runStream() on the Responses API, through the real openai SDK on both sides: input counted, cap, usage, streams, hang-ups.
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens } from '../../lib';
import { STREAM_IN_FLIGHT_MARGIN } from '../../lib/context';
import { chatDailyScope, listenTestApp, type ListeningTestApp, type TestAppOptions } from '../helpers/app';
import { until } from '../helpers/until';

const DAILY = 10_000;
const dailyScope = chatDailyScope(DAILY);
const CAP = 100;
const features = { chat: { maxInput: 400, maxOutput: CAP, model: 'gpt-4o', dailyTokens: DAILY } };
const input = 'Hi there';
const instructions = 'Answer in one word.';
/** What the API counts for `input` (a string) and `instructions`: a system message and a user message. */
const promptTokens = countChatTokens(
  [
    { role: 'system', content: instructions },
    { role: 'user', content: input },
  ],
  { model: 'gpt-4o' },
);

let t: ListeningTestApp;

async function start(options: TestAppOptions = {}): Promise<void> {
  t = await listenTestApp({ ...options, budget: { features, ...options.budget } });
}

afterEach(() => t?.stop());

const dailyUsed = async () => (await t.budget.store.usage(dailyScope)).used;

/** The SDK posts to `${baseURL}/responses`; the app answers at /chat. */
const toRoute = (options: OpenAI.RequestOptions = {}) => ({ path: '/chat', ...options }) as OpenAI.RequestOptions;

describe('non-streamed', () => {
  test('string input and instructions: counted as the upstream counts them, the cap sent as max_output_tokens, settled to usage', async () => {
    await start({ upstream: { completionTokens: () => 6 } });
    const response = await t.routeClient.responses.create({ model: 'ignored', input, instructions }, toRoute());
    expect(response.output_text).toBe('ok' + ' ok'.repeat(5));
    const [call] = t.upstream.calls;
    expect(call.request.api).toBe('responses');
    expect(call.request.body).toMatchObject({ model: 'gpt-4o', instructions, input: [{ role: 'user', content: input }] });
    expect(call.request.body.max_output_tokens).toBe(CAP);
    expect(call.promptTokens).toBe(promptTokens);
    expect(response.usage).toMatchObject({ input_tokens: promptTokens, output_tokens: 6 });
    expect(await dailyUsed()).toBe(promptTokens + 6);
  });

  test('max_output_tokens is what the budget can still pay for', async () => {
    const daily = promptTokens + 40;
    await start({ budget: { features: { chat: { ...features.chat, dailyTokens: daily } } } });
    await t.routeClient.responses.create({ model: 'ignored', input, instructions }, toRoute());
    expect(t.upstream.calls[0].request.body.max_output_tokens).toBe(40);
  });

  test("less than the API's 16-token output floor left: the budget's own 429, nothing sent, nothing charged", async () => {
    // 10 tokens of output left: chat completions would take them; the Responses API answers 400 below 16.
    const daily = promptTokens + 10;
    await start({ budget: { features: { chat: { ...features.chat, dailyTokens: daily } } } });
    const refused = await request(t.app).post('/chat').send({ input, instructions });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ type: 'feature_quota_exceeded', remaining: daily });
    expect(refused.body.error.message).toContain(
      `needs at least ${promptTokens + 16} tokens (${promptTokens} input + 16 output)`,
    );
    expect(t.upstream.calls).toEqual([]);
    expect(await dailyUsed()).toBe(0);
    // With 16 left, the call goes.
    await t.stop();
    await start({ budget: { features: { chat: { ...features.chat, dailyTokens: promptTokens + 16 } } } });
    expect((await request(t.app).post('/chat').send({ input, instructions })).status).toBe(200);
    expect(t.upstream.calls[0].request.body.max_output_tokens).toBe(16);
  });

  test('the output floor refused by a spend cap is told as the cap, even beside a token budget with fewer units left', async () => {
    // gpt-4o: 2,500 nano-USD an input token, 10,000 an output token. The cap pays for the input and 10.5 output tokens;
    // the feature's day has 100 tokens left after them, a smaller figure than the cap's 5,000 nano-USD.
    const hourlyCapUsd = (promptTokens * 2_500 + 105_000) / 1e9;
    await start({
      budget: { features: { chat: { ...features.chat, dailyTokens: promptTokens + 10 + 100 } } },
      chain: (b, client) => [b.featureBudget('chat'), b.costMeter({ hourlyCapUsd }), b.llmHandler({ client })],
    });
    const refused = await request(t.app).post('/chat').send({ input, instructions });
    expect([refused.status, refused.body.error.type]).toEqual([503, 'spend_cap_reached']);
    expect(t.upstream.calls).toEqual([]);
  });

  test('items (messages with parts, a function call and its output) and tools: the budget counts what the upstream counts', async () => {
    let counted: number | undefined;
    await start({
      chain: (b, client) => [
        b.featureBudget('chat'),
        (req, _res, next) => {
          counted = req.tokenBudget!.inputTokens;
          next();
        },
        b.llmHandler({ client, api: 'responses' }),
      ],
    });
    const tools: OpenAI.Responses.Tool[] = [
      {
        type: 'function',
        name: 'get_weather',
        description: 'The weather in a city.',
        parameters: { type: 'object', properties: { city: { type: 'string', description: 'The city' } } },
        strict: false,
      },
    ];
    const items: OpenAI.Responses.ResponseInput = [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"celsius":21}' },
      {
        type: 'message',
        id: 'msg_1',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'It is 21 °C.', annotations: [] }],
      },
      { role: 'user', content: 'Thanks' },
    ];
    const response = await t.routeClient.responses.create({ model: 'ignored', input: items, tools }, toRoute());
    const [call] = t.upstream.calls;
    expect(call.request.body.tools).toEqual([expect.objectContaining({ type: 'function', name: 'get_weather' })]);
    expect(call.request.body.input).toHaveLength(6);
    expect(counted).toBe(call.promptTokens);
    // The tools' definitions are part of the prompt.
    expect(call.promptTokens).toBeGreaterThan(countChatTokens([{ role: 'user', content: 'Thanks' }], { model: 'gpt-4o' }) + 20);
    expect(await dailyUsed()).toBe(response.usage!.total_tokens);
  });

  test('reasoning tokens (output_tokens_details) are billed as output, max_output_tokens caps them too', async () => {
    await start({
      budget: { features: { chat: { ...features.chat, model: 'o3-mini' } } },
      upstream: { reasoningTokens: () => 30, completionTokens: () => 5 },
    });
    const response = await t.routeClient.responses.create({ model: 'ignored', input }, toRoute());
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(30);
    expect(response.usage?.output_tokens).toBe(35);
    expect(await dailyUsed()).toBe(response.usage!.total_tokens);
  });

  test('without usage: the reservation by default, the counted output with count-reply', async () => {
    await start({ upstream: { behave: () => ({ kind: 'no-usage' }), completionTokens: () => 9 } });
    await t.routeClient.responses.create({ model: 'ignored', input, instructions }, toRoute());
    expect(await dailyUsed()).toBe(promptTokens + CAP);
    await t.stop();
    await start({
      budget: { onMissingUsage: 'count-reply' },
      upstream: { behave: () => ({ kind: 'no-usage' }), completionTokens: () => 9 },
    });
    await t.routeClient.responses.create({ model: 'ignored', input, instructions }, toRoute());
    expect(await dailyUsed()).toBe(promptTokens + 9);
  });

  test.each([
    [{ previous_response_id: 'resp_1' }, /previous_response_id/],
    [{ tools: [{ type: 'web_search' }] }, /function tool/],
    [{ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, /input_file/],
    [{ input: [{ type: 'item_reference', id: 'x' }] }, /item_reference/],
  ])('%j is refused 400 invalid_request before any call', async (extra, message) => {
    await start();
    const res = await request(t.app)
      .post('/chat')
      .send({ input, ...extra });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request', message: expect.stringMatching(message) });
    expect(t.upstream.calls).toHaveLength(0);
  });

  test("api: 'responses' on a route answers a chat body too (its messages sent as input)", async () => {
    await start({ chain: (b, client) => [b.featureBudget('chat'), b.llmHandler({ client, api: 'responses' })] });
    const res = await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: input }] });
    expect(res.body.object).toBe('response');
    expect(t.upstream.calls[0].request.body.input).toEqual([{ role: 'user', content: input }]);
  });
});

describe('streamed', () => {
  test('events reach the SDK in the Responses format; settled to the usage of response.completed', async () => {
    await start({ upstream: { completionTokens: () => 20 } });
    const stream = await t.routeClient.responses.create({ model: 'ignored', input, instructions, stream: true }, toRoute());
    let text = '';
    let usage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(text).toBe('ok' + ' ok'.repeat(19));
    expect(usage).toMatchObject({ input_tokens: promptTokens, output_tokens: 20 });
    expect(t.upstream.calls[0].request.body.stream).toBe(true);
    expect(t.upstream.calls[0].request.body).not.toHaveProperty('stream_options');
    expect(await dailyUsed()).toBe(promptTokens + 20);
  });

  test('on the wire: each event named by its type, ending with response.completed and no [DONE]', async () => {
    await start({ upstream: { completionTokens: () => 3 } });
    const res = await request(t.app).post('/chat').send({ input, stream: true });
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = res.text.split('\n\n').filter(Boolean);
    const names = events.map((event) => /^event: (.+)$/m.exec(event)?.[1]);
    expect(names.filter((name) => name === 'response.output_text.delta')).toHaveLength(3);
    for (const event of events) {
      const [, name, data] = /^event: (.+)\ndata: (.+)$/.exec(event)!;
      expect(JSON.parse(data!).type).toBe(name);
    }
    expect(names.at(-1)).toBe('response.completed');
  });

  test("a function call: the SDK's stream helper assembles it, settled to usage", async () => {
    const toolCall = { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', unit: 'celsius' }) };
    await start({ upstream: { behave: () => ({ kind: 'reply', toolCall }) } });
    const response = await t.routeClient.responses.stream({ model: 'ignored', input }, toRoute()).finalResponse();
    expect(response.output[0]).toMatchObject({ type: 'function_call', ...toolCall });
    expect(await dailyUsed()).toBe(t.upstream.calls[0].usage!.total_tokens);
  });

  test('without usage: charged the reservation, or with count-reply the input + the counted deltas', async () => {
    await start({
      budget: { onMissingUsage: 'count-reply' },
      upstream: { behave: () => ({ kind: 'no-usage' }), completionTokens: () => 30 },
    });
    for await (const event of await t.routeClient.responses.create(
      { model: 'ignored', input, instructions, stream: true },
      toRoute(),
    ))
      void event;
    expect(await dailyUsed()).toBe(promptTokens + 30);
  });
});

describe('run() and runStream() with { api: "responses" }', () => {
  test('run: the SDK types flow, the call gets input, instructions and max_output_tokens, settled to usage', async () => {
    await start({
      upstream: { completionTokens: () => 4 },
      chain: (b, client) => [
        b.featureBudget('chat'),
        async (req, res) => {
          const response = await req.tokenBudget!.run((params, options) => client.responses.create(params, options), {
            api: 'responses',
          });
          res.json({ text: response.output_text, used: await dailyUsed() });
        },
      ],
    });
    const res = await request(t.app).post('/chat').send({ input, instructions });
    expect(res.body.text).toBe('ok ok ok ok');
    expect(t.upstream.calls[0].request.body).toMatchObject({ instructions, max_output_tokens: CAP });
    expect(res.body.used).toBe(promptTokens + 4);
  });

  test('runStream: the events are iterated, settled to response.completed; a chat body works as well', async () => {
    await start({
      upstream: { completionTokens: () => 9 },
      chain: (b, client) => [
        b.featureBudget('chat'),
        async (req, res) => {
          const events = await req.tokenBudget!.runStream(
            (params, options) => client.responses.create({ ...params, stream: true }, options),
            { api: 'responses' },
          );
          let text = '';
          for await (const event of events) if (event.type === 'response.output_text.delta') text += event.delta;
          res.json({ text, used: await dailyUsed() });
        },
      ],
    });
    const messages = [{ role: 'user', content: input }];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.body.text).toBe('ok' + ' ok'.repeat(8));
    expect(res.body.used).toBe(countChatTokens(messages as never, { model: 'gpt-4o' }) + 9);
  });

  test('runStream left after 3 events: stopped upstream, charged input + sent + at most the margin', async () => {
    await start({
      upstream: { completionTokens: () => 60, chunkIntervalMs: 5 },
      chain: (b, client) => [
        b.featureBudget('chat'),
        async (req, res) => {
          const events = await req.tokenBudget!.runStream(
            (params, options) => client.responses.create({ ...params, stream: true }, options),
            { api: 'responses' },
          );
          let deltas = 0;
          for await (const event of events) if (event.type === 'response.output_text.delta' && ++deltas === 3) break;
          res.json({ deltas });
        },
      ],
    });
    await request(t.app).post('/chat').send({ input, instructions });
    await t.upstream.idle();
    const [call] = t.upstream.calls;
    expect(call.outcome).toBe('client-gone');
    await until(async () => (await dailyUsed()) > 0);
    const used = await dailyUsed();
    expect(used).toBeGreaterThanOrEqual(promptTokens + call.sentTokens);
    expect(used).toBeLessThanOrEqual(promptTokens + call.sentTokens + STREAM_IN_FLIGHT_MARGIN);
  });
});
