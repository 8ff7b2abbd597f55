// The offline upstream's answers not streamed, read as raw HTTP: bodies of both APIs and Azure's, refusals of bad requests, staged failures, what each call records and bills.
import { countChatTokens, countTokens } from '../../lib';
import type { UpstreamBehaviour } from '../../lib/testing';
import { hostOf, nowSeconds, post, startUpstream } from './sse';

const messages = [{ role: 'user' as const, content: 'Say hi' }];
const okReply = (n: number): string => Array(n).fill('ok').join(' ');
const AZURE_FILTER = { hate: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } };
const weather = { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' };

test('a chat completion: its whole body, usage with the extra fields, and the call it records', async () => {
  const upstream = await startUpstream({ extraUsage: { cost: 0.5 } });
  const before = nowSeconds();
  const answer = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
  const prompt = countChatTokens(messages, { model: 'gpt-4o' });
  expect([answer.status, answer.headers.get('content-type')]).toEqual([200, 'application/json']);
  const body = JSON.parse(answer.text) as { created: number };
  expect(body).toEqual({
    id: 'chatcmpl-offline-1',
    object: 'chat.completion',
    created: expect.any(Number),
    model: 'gpt-4o',
    choices: [
      { index: 0, message: { role: 'assistant', content: okReply(24), refusal: null }, logprobs: null, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: prompt, completion_tokens: 24, total_tokens: prompt + 24, cost: 0.5 },
  });
  expect(body.created).toBeGreaterThanOrEqual(before);
  expect(body.created).toBeLessThanOrEqual(nowSeconds());
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({
    promptTokens: prompt,
    completionTokens: 24,
    reasoningTokens: 0,
    outcome: 'answered',
    answeringModel: 'gpt-4o',
    sentTokens: 0,
    failedMidStream: false,
  });
  expect(upstream.calls[0]!.closedAt).toEqual(expect.any(Number));
  expect(upstream.billedTokens()).toBe(prompt + 24);
});

test('a Responses API response: its whole body, usage in its own shape, a string input counted as one user message', async () => {
  const upstream = await startUpstream({ completionTokens: () => 5, extraUsage: { cost: 0.5 } });
  const before = nowSeconds();
  const answer = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi' });
  const prompt = countChatTokens(messages, { model: 'gpt-4o' });
  const body = JSON.parse(answer.text) as { created_at: number };
  expect(body).toEqual({
    id: 'resp_offline_1',
    object: 'response',
    created_at: expect.any(Number),
    status: 'completed',
    model: 'gpt-4o',
    output: [
      {
        type: 'message',
        id: 'msg_offline',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: okReply(5), annotations: [] }],
      },
    ],
    incomplete_details: null,
    error: null,
    usage: {
      input_tokens: prompt,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: prompt + 5,
    },
  });
  expect(body.created_at).toBeGreaterThanOrEqual(before);
  expect(body.created_at).toBeLessThanOrEqual(nowSeconds());
  expect(upstream.calls[0]).toMatchObject({ request: { api: 'responses' }, promptTokens: prompt, cap: undefined });
});

test('a Responses API request counts its instructions and tools; a chat request its tools when they are a list', async () => {
  const upstream = await startUpstream();
  const tool = {
    type: 'function',
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  };
  const chatTool = { type: 'function' as const, function: { name: 'get_weather', parameters: tool.parameters } };
  await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi' });
  await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', instructions: 'Be brief and kind.' });
  await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: [{ role: 'user', content: 'Say hi' }], tools: [tool] });
  await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, tools: [chatTool] });
  await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, tools: 'none' });
  const [bare, instructed, withTools, chatWithTools, chatToolsNotAList] = upstream.calls.map((call) => call.promptTokens);
  expect(instructed).toBe(countChatTokens([{ role: 'system', content: 'Be brief and kind.' }, ...messages], { model: 'gpt-4o' }));
  expect(withTools).toBeGreaterThan(bare!);
  expect(chatWithTools).toBe(countChatTokens(messages, { model: 'gpt-4o', tools: [chatTool] }));
  expect(chatWithTools).toBeGreaterThan(bare!);
  expect(chatToolsNotAList).toBe(bare);
});

test('a staged tool call replaces the text, in both APIs, and bills its name and arguments even when the cap is reached', async () => {
  const staged: UpstreamBehaviour[] = [
    { kind: 'reply', toolCall: weather },
    { kind: 'no-usage', toolCall: weather },
    { kind: 'reply', toolCall: weather },
  ];
  const upstream = await startUpstream({ behave: () => staged.shift() ?? { kind: 'reply' } });
  const chat = JSON.parse(
    (await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, max_tokens: 1 })).text,
  );
  const bare = JSON.parse((await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages })).text);
  const response = JSON.parse(
    (await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', max_output_tokens: 16 })).text,
  );
  const billed = countTokens(weather.name, 'gpt-4o') + countTokens(weather.arguments, 'gpt-4o');
  expect(chat.choices).toEqual([
    {
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ id: 'call_offline_1', type: 'function', function: weather }],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    },
  ]);
  expect(chat.usage.completion_tokens).toBe(billed);
  expect(bare.choices[0].message.tool_calls).toEqual([{ id: 'call_offline_2', type: 'function', function: weather }]);
  expect(bare.usage).toBeUndefined();
  expect([response.status, response.incomplete_details, response.usage.output_tokens]).toEqual(['completed', null, billed]);
  expect(response.output).toEqual([
    { type: 'function_call', id: 'fc_offline', call_id: 'call_offline', ...weather, status: 'completed' },
  ]);
  expect(upstream.calls.map((call) => call.completionTokens)).toEqual([billed, billed, billed]);
});

test('a tool call is staged only with reply and no-usage: a slow reply answers text', async () => {
  const upstream = await startUpstream({
    behave: () => ({ kind: 'delay', ms: 1, toolCall: weather }) as UpstreamBehaviour,
    completionTokens: () => 2,
  });
  const body = JSON.parse((await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages })).text);
  expect(body.choices[0].message).toEqual({ role: 'assistant', content: 'ok ok', refusal: null });
  expect(body.choices[0].finish_reason).toBe('stop');
});

test('the cap: max_completion_tokens before max_tokens, a cap that is no number is none, reasoning comes first', async () => {
  const reasoning = [10, 50, 5000, 0];
  const upstream = await startUpstream({ reasoningTokens: () => reasoning.shift() ?? 0 });
  const ask = async (fields: Record<string, unknown>) =>
    JSON.parse((await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, ...fields })).text);
  const reasoned = await ask({ max_completion_tokens: 30, max_tokens: 99 });
  const allReasoning = await ask({ max_tokens: 30 });
  const uncapped = await ask({});
  const notANumber = await ask({ max_tokens: 'lots' });
  expect(reasoned.choices[0].finish_reason).toBe('length');
  expect(reasoned.choices[0].message.content).toBe(okReply(20));
  expect(reasoned.usage).toMatchObject({ completion_tokens: 30, completion_tokens_details: { reasoning_tokens: 10 } });
  expect([allReasoning.choices[0].message.content, allReasoning.choices[0].finish_reason]).toEqual(['', 'length']);
  expect(allReasoning.usage.completion_tokens).toBe(30);
  expect(uncapped.usage).toMatchObject({ completion_tokens: 4096, completion_tokens_details: { reasoning_tokens: 4096 } });
  expect([notANumber.choices[0].finish_reason, notANumber.usage.completion_tokens]).toEqual(['stop', 24]);
  expect(notANumber.usage.completion_tokens_details).toBeUndefined();
  expect(upstream.calls.map((call) => [call.cap, call.reasoningTokens])).toEqual([
    [30, 10],
    [30, 30],
    [undefined, 4096],
    [undefined, 0],
  ]);
});

test('completionTokens is asked with the cap left after reasoning, and never gets more than it', async () => {
  const asked: number[] = [];
  const wanted = [3, 1000];
  const upstream = await startUpstream({
    reasoningTokens: () => 4,
    completionTokens: (_request, cap) => {
      asked.push(cap);
      return wanted.shift()!;
    },
  });
  const small = JSON.parse(
    (await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', max_output_tokens: 20 })).text,
  );
  const capped = JSON.parse(
    (await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', max_output_tokens: 20 })).text,
  );
  expect(asked).toEqual([16, 16]);
  expect([small.status, small.usage.output_tokens, small.usage.output_tokens_details]).toEqual([
    'completed',
    7,
    { reasoning_tokens: 4 },
  ]);
  expect([capped.status, capped.incomplete_details, capped.usage.output_tokens]).toEqual([
    'incomplete',
    { reason: 'max_output_tokens' },
    20,
  ]);
  expect(capped.output[0].content[0].text).toBe(okReply(16));
});

test('the Responses API refuses an output cap below 16, as the real one does', async () => {
  const upstream = await startUpstream();
  const below = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', max_output_tokens: 15 });
  const chat = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, max_completion_tokens: 15 });
  const floor = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', max_output_tokens: 16 });
  expect([below.status, JSON.parse(below.text)]).toEqual([
    400,
    {
      error: {
        message: "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 15 instead.",
        type: 'invalid_request_error',
        param: 'max_output_tokens',
        code: 'integer_below_min_value',
      },
    },
  ]);
  expect([chat.status, floor.status]).toEqual([200, 200]);
  expect(upstream.calls).toHaveLength(2);
});

test('requests without a model or a prompt are refused with 400, and not recorded', async () => {
  const upstream = await startUpstream();
  const chat = `${upstream.baseURL}/chat/completions`;
  const responses = `${upstream.baseURL}/responses`;
  const refusals = [
    await post(chat, 'not json'),
    await post(chat, 'null'),
    await post(chat, '5'),
    await post(chat, { messages }),
    await post(chat, { model: 'gpt-4o', messages: 'Say hi' }),
    await post(responses, { model: 'gpt-4o', input: 5 }),
    await post(responses, { model: 7, input: 'Say hi' }),
  ];
  const chatError = { error: { message: 'model and messages are required', type: 'invalid_request_error' } };
  const responsesError = { error: { message: 'model and input are required', type: 'invalid_request_error' } };
  expect(refusals.map((answer) => [answer.status, JSON.parse(answer.text)])).toEqual([
    ...Array(5).fill([400, chatError]),
    [400, responsesError],
    [400, responsesError],
  ]);
  expect(refusals[0]!.headers.get('content-type')).toBe('application/json');
  expect(upstream.calls).toHaveLength(0);
});

test('it answers only POST on the two endpoints: anything else is a 404', async () => {
  const upstream = await startUpstream();
  const notFound = { error: { message: 'Not found', type: 'invalid_request_error' } };
  const answers = [
    await fetch(`${upstream.baseURL}/chat/completions`),
    await fetch(`${upstream.baseURL}/embeddings`, { method: 'POST', body: '{}' }),
    await fetch(`${upstream.baseURL}/chat/completions/extra`, { method: 'POST', body: '{}' }),
    await fetch(`${upstream.baseURL}/responses/resp_1`, { method: 'POST', body: '{}' }),
  ];
  for (const answer of answers) expect([answer.status, await answer.json()]).toEqual([404, notFound]);
  expect(upstream.calls).toHaveLength(0);
});

test("Azure's path: the deployment (decoded) names the model, one it runs is counted with, an unknown one as gpt-4o", async () => {
  const prompt = [{ role: 'user' as const, content: 'こんにちは、世界。今日はいい天気ですね。' }];
  const asGpt4 = countChatTokens(prompt, { model: 'gpt-4' });
  const asGpt4o = countChatTokens(prompt, { model: 'gpt-4o' });
  expect(asGpt4).not.toBe(asGpt4o);
  const upstream = await startUpstream({ deployments: { legacy: 'gpt-4' } });
  const azure = (deployment: string) =>
    `${hostOf(upstream)}/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`;
  const legacy = JSON.parse((await post(azure('legacy'), { model: 'ignored', messages: prompt })).text);
  const named = JSON.parse((await post(azure('my%20dep'), { model: 'ignored', messages: prompt })).text);
  expect(legacy).toMatchObject({
    model: 'gpt-4',
    prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }],
    choices: [{ index: 0, finish_reason: 'stop', content_filter_results: AZURE_FILTER }],
    usage: { prompt_tokens: asGpt4 },
  });
  expect(named).toMatchObject({ model: 'my dep', usage: { prompt_tokens: asGpt4o } });
  expect(upstream.calls.map((call) => [call.request.azure, call.answeringModel])).toEqual([
    [{ deployment: 'legacy', apiVersion: '2024-10-21' }, 'gpt-4'],
    [{ deployment: 'my dep', apiVersion: '2024-10-21' }, 'my dep'],
  ]);
});

test("Azure's path without api-version is Azure's 404; OpenAI's path counts a model it does not know as gpt-4o", async () => {
  const upstream = await startUpstream();
  const missing = await post(`${hostOf(upstream)}/openai/deployments/prod/chat/completions`, { model: 'x', messages });
  expect([missing.status, JSON.parse(missing.text)]).toEqual([404, { error: { code: '404', message: 'Resource not found' } }]);
  const local = JSON.parse((await post(`${upstream.baseURL}/chat/completions`, { model: 'my-local-llama', messages })).text);
  const responses = JSON.parse((await post(`${upstream.baseURL}/responses`, { model: 'my-local-llama', input: 'Say hi' })).text);
  expect([local.model, local.usage.prompt_tokens]).toEqual(['my-local-llama', countChatTokens(messages, { model: 'gpt-4o' })]);
  expect(local.prompt_filter_results).toBeUndefined();
  expect(local.choices[0].content_filter_results).toBeUndefined();
  expect(responses.model).toBe('my-local-llama');
  expect(upstream.calls.map((call) => call.request.azure)).toEqual([undefined, undefined]);
});

test('the user a call names: safety_identifier before user; a field that is no string is none', async () => {
  const upstream = await startUpstream();
  const url = `${upstream.baseURL}/chat/completions`;
  await post(url, { model: 'gpt-4o', messages, safety_identifier: 'user-a', user: 'user-b' });
  await post(url, { model: 'gpt-4o', messages, user: 'user-b' });
  await post(url, { model: 'gpt-4o', messages, safety_identifier: 3, user: 4 });
  expect(upstream.calls.map((call) => [call.userId, call.bodyUser])).toEqual([
    ['user-a', 'user-b'],
    ['user-b', 'user-b'],
    [undefined, undefined],
  ]);
  expect(upstream.calls[0]!.request.headers['content-type']).toBe('application/json');
});

test('a staged error: its status, headers and message (or a default one), nothing billed', async () => {
  const staged: UpstreamBehaviour[] = [
    { kind: 'error', status: 429, headers: { 'retry-after': '7' } },
    { kind: 'error', status: 503, message: 'overloaded' },
  ];
  const upstream = await startUpstream({ behave: () => staged.shift()! });
  const limited = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
  const overloaded = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi' });
  expect([limited.status, limited.headers.get('retry-after'), JSON.parse(limited.text)]).toEqual([
    429,
    '7',
    { error: { message: 'staged failure 429', type: 'server_error' } },
  ]);
  expect([overloaded.status, JSON.parse(overloaded.text)]).toEqual([
    503,
    { error: { message: 'overloaded', type: 'server_error' } },
  ]);
  await upstream.idle();
  expect(upstream.calls.map((call) => [call.outcome, call.completionTokens, call.usage])).toEqual([
    ['answered', 0, undefined],
    ['answered', 0, undefined],
  ]);
  expect(upstream.billedTokens()).toBe(0);
});

test('a behave() that throws is a 500 naming the error', async () => {
  const upstream = await startUpstream({
    behave: () => {
      throw new Error('no plan for this request');
    },
  });
  const answer = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
  expect([answer.status, JSON.parse(answer.text)]).toEqual([
    500,
    { error: { message: 'Error: no plan for this request', type: 'server_error' } },
  ]);
});

test('garbled: a 200 whose announced body is half of the JSON, the completion billed', async () => {
  const staged: UpstreamBehaviour[] = [{ kind: 'garbled' }, { kind: 'reply' }];
  const upstream = await startUpstream({ behave: () => staged.shift()! });
  const garbled = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
  const whole = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages });
  expect(garbled.status).toBe(200);
  expect(garbled.headers.get('content-type')).toBe('application/json');
  expect(garbled.headers.get('content-length')).toBe(String(garbled.text.length));
  expect(garbled.text.length).toBe(Math.floor(whole.text.length / 2));
  expect(garbled.text.startsWith('{"id":"chatcmpl-offline-1","object":"chat.completion"')).toBe(true);
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'answered', completionTokens: 24 });
});

test('reset before the headers bills nothing; reset after them cuts the announced body and bills the reply', async () => {
  const staged: UpstreamBehaviour[] = [
    { kind: 'reset', when: 'before-headers' },
    { kind: 'reset', when: 'after-headers' },
  ];
  const upstream = await startUpstream({ behave: () => staged.shift()! });
  await expect(post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages })).rejects.toThrow();
  const res = await fetch(`${upstream.baseURL}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'gpt-4o', messages }),
  });
  expect([res.status, Number(res.headers.get('content-length'))]).toEqual([200, expect.any(Number)]);
  await expect(res.text()).rejects.toThrow();
  await upstream.idle();
  expect(upstream.calls.map((call) => [call.outcome, call.completionTokens])).toEqual([
    ['reset', 0],
    ['reset', 24],
  ]);
  expect(upstream.calls[0]!.usage).toBeUndefined();
});

test('a slow reply whose client leaves sends and bills nothing, and ends at once', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'delay', ms: 2_000 }) });
  const controller = new AbortController();
  const answer = post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages }, { signal: controller.signal });
  while (upstream.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort();
  await expect(answer).rejects.toThrow();
  const started = performance.now();
  await upstream.idle();
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(upstream.calls[0]).toMatchObject({ outcome: 'client-gone', completionTokens: 0 });
  expect(upstream.calls[0]!.usage).toBeUndefined();
});

test('close() ends a call left hanging, and idle() waits for calls that arrive while it waits', async () => {
  const upstream = await startUpstream({
    behave: (request) => (request.body.user === 'hang' ? { kind: 'hang' } : { kind: 'reply' }),
  });
  const first = post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, max_tokens: 2 });
  await first;
  const idle = upstream.idle();
  const hanging = post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, user: 'hang' }).catch(() => 'closed');
  await idle;
  while (upstream.calls.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  let settled = false;
  const waiting = upstream.idle().then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(settled).toBe(false);
  const closing = upstream.close();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('still open'), 3_000)));
  expect(await Promise.race([closing.then(() => 'closed'), timeout])).toBe('closed');
  clearTimeout(timer);
  await waiting;
  expect(await hanging).toBe('closed');
  expect(upstream.calls[1]!.outcome).toBe('client-gone');
});

test('a Responses API response staged without usage reports usage null, and is still billed', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'no-usage' }), completionTokens: () => 4 });
  const body = JSON.parse((await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi' })).text);
  expect([body.status, body.usage, body.output[0].content[0].text]).toEqual(['completed', null, 'ok ok ok ok']);
  await upstream.idle();
  expect(upstream.calls[0]!.usage).toMatchObject({ completion_tokens: 4 });
});
