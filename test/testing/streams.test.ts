// The offline upstream's streamed answers, read as raw server-sent events: every event of both APIs and Azure's, staged cuts and failures mid-stream, pacing, and what a stream bills.
import http from 'node:http';
import { countChatTokens, countTokens } from '../../lib';
import type { UpstreamBehaviour } from '../../lib/testing';
import { hostOf, nowSeconds, post, readEvents, startUpstream } from './sse';
import { pauseUnlessGone } from '../../lib/testing/stream';

const messages = [{ role: 'user' as const, content: 'Say hi' }];
const prompt = countChatTokens(messages, { model: 'gpt-4o' });
const AZURE_FILTER = { hate: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } };
const weather = { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' };
/** The 8-character slices a tool call's arguments stream in. */
const weatherPieces = ['{"city":', '"Paris",', '"unit":"', 'c"}'];

const chunk = (choices: unknown[], model = 'gpt-4o') => ({
  id: 'chatcmpl-offline-stream',
  object: 'chat.completion.chunk',
  created: expect.any(Number),
  model,
  choices,
});
const delta = (value: unknown) => [{ index: 0, delta: value, logprobs: null, finish_reason: null }];
const finished = (reason: string) => [{ index: 0, delta: {}, logprobs: null, finish_reason: reason }];

test('a chat stream: the role, one token a chunk, the finish, usage when asked for, [DONE]', async () => {
  const upstream = await startUpstream({ completionTokens: () => 3, extraUsage: { cost: 0.5 } });
  const before = nowSeconds();
  const answer = await post(`${upstream.baseURL}/chat/completions`, {
    model: 'gpt-4o',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  expect([answer.status, answer.headers.get('content-type'), answer.headers.get('cache-control')]).toEqual([
    200,
    'text/event-stream',
    'no-cache',
  ]);
  const events = readEvents(answer.text);
  expect(events.map(({ data }) => data)).toEqual([
    chunk(delta({ role: 'assistant', content: '' })),
    chunk(delta({ content: 'ok' })),
    chunk(delta({ content: ' ok' })),
    chunk(delta({ content: ' ok' })),
    chunk(finished('stop')),
    { ...chunk([]), usage: { prompt_tokens: prompt, completion_tokens: 3, total_tokens: prompt + 3, cost: 0.5 } },
    '[DONE]',
  ]);
  expect(events.every(({ event }) => event === undefined)).toBe(true);
  const created = (events[0]!.data as { created: number }).created;
  expect(created).toBeGreaterThanOrEqual(before);
  expect(created).toBeLessThanOrEqual(nowSeconds());
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'answered', sentTokens: 3, completionTokens: 3, failedMidStream: false });
  expect(upstream.billedTokens()).toBe(prompt + 3);
});

test('a chat stream sends usage only when include_usage is true, and never when staged without usage', async () => {
  const staged: UpstreamBehaviour[] = [{ kind: 'reply' }, { kind: 'reply' }, { kind: 'no-usage' }];
  const upstream = await startUpstream({ completionTokens: () => 2, behave: () => staged.shift()! });
  const ask = async (streamOptions: unknown) =>
    readEvents(
      (
        await post(`${upstream.baseURL}/chat/completions`, {
          model: 'gpt-4o',
          messages,
          stream: true,
          ...(streamOptions === undefined ? {} : { stream_options: streamOptions }),
        })
      ).text,
    ).map(({ data }) => data);
  const plain = [
    chunk(delta({ role: 'assistant', content: '' })),
    chunk(delta({ content: 'ok' })),
    chunk(delta({ content: ' ok' })),
    chunk(finished('stop')),
    '[DONE]',
  ];
  expect(await ask(undefined)).toEqual(plain);
  expect(await ask({ include_usage: 'yes' })).toEqual(plain);
  expect(await ask({ include_usage: true })).toEqual(plain);
  await upstream.idle();
  // Not reported, still billed.
  expect(upstream.calls[2]!.usage).toMatchObject({ completion_tokens: 2 });
});

test('a chat stream that fills the cap ends with length; its usage names the reasoning tokens', async () => {
  const upstream = await startUpstream({ reasoningTokens: () => 2 });
  const answer = await post(`${upstream.baseURL}/chat/completions`, {
    model: 'gpt-4o',
    messages,
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true },
  });
  const data = readEvents(answer.text).map(({ data }) => data);
  expect(data.slice(3)).toEqual([
    chunk(finished('length')),
    {
      ...chunk([]),
      usage: {
        prompt_tokens: prompt,
        completion_tokens: 4,
        total_tokens: prompt + 4,
        completion_tokens_details: { reasoning_tokens: 2 },
      },
    },
    '[DONE]',
  ]);
});

test('a chat stream of a tool call: the name first, then the arguments 8 characters a chunk', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'reply', toolCall: weather }) });
  const answer = await post(`${upstream.baseURL}/chat/completions`, {
    model: 'gpt-4o',
    messages,
    max_tokens: 1,
    stream: true,
    stream_options: { include_usage: true },
  });
  const sent = countTokens(weather.name, 'gpt-4o') + weatherPieces.reduce((sum, piece) => sum + countTokens(piece, 'gpt-4o'), 0);
  expect(readEvents(answer.text).map(({ data }) => data)).toEqual([
    chunk(delta({ role: 'assistant', content: '' })),
    chunk(
      delta({
        tool_calls: [{ index: 0, id: 'call_offline', type: 'function', function: { name: weather.name, arguments: '' } }],
      }),
    ),
    ...weatherPieces.map((piece) => chunk(delta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }))),
    chunk(finished('tool_calls')),
    { ...chunk([]), usage: { prompt_tokens: prompt, completion_tokens: sent, total_tokens: prompt + sent } },
    '[DONE]',
  ]);
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ sentTokens: sent, completionTokens: sent });
});

test("Azure's chat stream: the prompt's filter verdict first, the completion's after the text, the deployment's model", async () => {
  const upstream = await startUpstream({ completionTokens: () => 2, deployments: { prod: 'gpt-4o-mini' } });
  const answer = await post(`${hostOf(upstream)}/openai/deployments/prod/chat/completions?api-version=2024-10-21`, {
    messages,
    model: 'ignored',
    stream: true,
  });
  expect(readEvents(answer.text).map(({ data }) => data)).toEqual([
    {
      choices: [],
      created: 0,
      id: '',
      model: '',
      object: '',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }],
    },
    chunk(delta({ role: 'assistant', content: '' }), 'gpt-4o-mini'),
    chunk(delta({ content: 'ok' }), 'gpt-4o-mini'),
    chunk(delta({ content: ' ok' }), 'gpt-4o-mini'),
    chunk(finished('stop'), 'gpt-4o-mini'),
    chunk(
      [
        {
          index: 0,
          finish_reason: null,
          content_filter_results: AZURE_FILTER,
          content_filter_offsets: { check_offset: 0, start_offset: 0, end_offset: 2 },
        },
      ],
      'gpt-4o-mini',
    ),
    '[DONE]',
  ]);
});

test('stream-error on chat: an error event after afterTokens tokens, no finish, the tokens sent billed', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'stream-error', afterTokens: 3 }), reasoningTokens: () => 2 });
  const answer = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, stream: true });
  const events = readEvents(answer.text);
  expect(events.slice(1).map(({ event, data }) => [event, data])).toEqual([
    [undefined, chunk(delta({ content: 'ok' }))],
    [undefined, chunk(delta({ content: ' ok' }))],
    [undefined, chunk(delta({ content: ' ok' }))],
    ['error', { error: { message: 'staged failure mid-stream', type: 'server_error' } }],
  ]);
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'answered', failedMidStream: true, sentTokens: 3, completionTokens: 5 });
  expect(upstream.calls[0]!.usage).toEqual({ prompt_tokens: prompt, completion_tokens: 5, total_tokens: prompt + 5 });
});

test('a stream shorter than afterTokens ends normally', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'stream-cut', afterTokens: 3 }), completionTokens: () => 3 });
  const answer = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, stream: true });
  expect(readEvents(answer.text).at(-1)!.data).toBe('[DONE]');
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'answered', failedMidStream: false, completionTokens: 3 });
});

test('stream-cut: the connection is reset after afterTokens tokens, which are billed', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'stream-cut', afterTokens: 4 }) });
  const res = await fetch(`${upstream.baseURL}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
  });
  expect(res.status).toBe(200);
  await expect(res.text()).rejects.toThrow();
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'reset', failedMidStream: true, sentTokens: 4, completionTokens: 4 });
  expect(upstream.billedTokens()).toBe(prompt + 4);
});

test('chunkIntervalMs paces the chunks; a client that leaves mid-stream is billed what was sent', async () => {
  const upstream = await startUpstream({ chunkIntervalMs: 25 });
  const started = performance.now();
  await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, stream: true, max_tokens: 8 });
  expect(performance.now() - started).toBeGreaterThanOrEqual(8 * 25 - 10);
  const controller = new AbortController();
  const res = await fetch(`${upstream.baseURL}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('"content":"ok"')) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  await upstream.idle();
  await new Promise((resolve) => setTimeout(resolve, 60));
  const gone = upstream.calls[1]!;
  expect(gone.outcome).toBe('client-gone');
  expect(gone.closedAt).toEqual(expect.any(Number));
  expect(gone.completionTokens).toBeGreaterThan(0);
  expect(gone.completionTokens).toBeLessThan(24);
  expect(gone.completionTokens).toBe(gone.sentTokens);
  expect(gone.usage).toEqual({
    prompt_tokens: prompt,
    completion_tokens: gone.sentTokens,
    total_tokens: prompt + gone.sentTokens,
  });
});

/** The text events of a Responses stream of `text`, from their sequence number `first` on. */
const responsesTextEvents = (pieces: string[], first: number) =>
  pieces.map((piece, i) => [
    'response.output_text.delta',
    {
      type: 'response.output_text.delta',
      sequence_number: first + i,
      item_id: 'msg_offline',
      output_index: 0,
      content_index: 0,
      delta: piece,
      logprobs: [],
    },
  ]);

const responseObject = (status: string, output: unknown[], usage: unknown, incomplete: unknown = null) => ({
  id: 'resp_offline_stream',
  object: 'response',
  created_at: expect.any(Number),
  status,
  model: 'gpt-4o',
  output,
  incomplete_details: incomplete,
  error: null,
  usage,
});

test('a Responses stream: numbered named events, the text, response.completed with usage, no [DONE]', async () => {
  const upstream = await startUpstream({ completionTokens: () => 2, reasoningTokens: () => 1 });
  const answer = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', stream: true });
  const at = { item_id: 'msg_offline', output_index: 0, content_index: 0 };
  const done = { type: 'message', id: 'msg_offline', status: 'completed', role: 'assistant', content: [] as unknown[] };
  done.content.push({ type: 'output_text', text: 'ok ok', annotations: [] });
  expect(readEvents(answer.text).map(({ event, data }) => [event, data])).toEqual([
    ['response.created', { type: 'response.created', sequence_number: 0, response: responseObject('in_progress', [], null) }],
    [
      'response.output_item.added',
      {
        type: 'response.output_item.added',
        sequence_number: 1,
        output_index: 0,
        item: { type: 'message', id: 'msg_offline', status: 'in_progress', role: 'assistant', content: [] },
      },
    ],
    [
      'response.content_part.added',
      {
        type: 'response.content_part.added',
        sequence_number: 2,
        ...at,
        part: { type: 'output_text', text: '', annotations: [] },
      },
    ],
    ...responsesTextEvents(['ok', ' ok'], 3),
    ['response.output_text.done', { type: 'response.output_text.done', sequence_number: 5, ...at, text: 'ok ok', logprobs: [] }],
    [
      'response.content_part.done',
      {
        type: 'response.content_part.done',
        sequence_number: 6,
        ...at,
        part: { type: 'output_text', text: 'ok ok', annotations: [] },
      },
    ],
    ['response.output_item.done', { type: 'response.output_item.done', sequence_number: 7, output_index: 0, item: done }],
    [
      'response.completed',
      {
        type: 'response.completed',
        sequence_number: 8,
        response: responseObject('completed', [done], {
          input_tokens: prompt,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 3,
          output_tokens_details: { reasoning_tokens: 1 },
          total_tokens: prompt + 3,
        }),
      },
    ],
  ]);
});

test('a Responses stream that fills the cap is incomplete; staged without usage, its usage is null', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'no-usage' }) });
  const answer = await post(`${upstream.baseURL}/responses`, {
    model: 'gpt-4o',
    input: 'Say hi',
    stream: true,
    max_output_tokens: 16,
  });
  const last = readEvents(answer.text).at(-1)!;
  expect(last.event).toBe('response.incomplete');
  expect(last.data).toMatchObject({
    type: 'response.incomplete',
    response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: null },
  });
  await upstream.idle();
  expect(upstream.calls[0]!.usage).toMatchObject({ completion_tokens: 16 });
});

test('a Responses stream of a tool call: the function call item, its arguments in 8-character deltas, its name billed', async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'reply', toolCall: weather }) });
  const answer = await post(`${upstream.baseURL}/responses`, {
    model: 'gpt-4o',
    input: 'Say hi',
    stream: true,
    max_output_tokens: 16,
  });
  const sent = countTokens(weather.name, 'gpt-4o') + weatherPieces.reduce((sum, piece) => sum + countTokens(piece, 'gpt-4o'), 0);
  const item = (status: string, args: string) => ({
    type: 'function_call',
    id: 'fc_offline',
    call_id: 'call_offline',
    name: weather.name,
    arguments: args,
    status,
  });
  expect(readEvents(answer.text).map(({ event, data }) => [event, data])).toEqual([
    ['response.created', { type: 'response.created', sequence_number: 0, response: responseObject('in_progress', [], null) }],
    [
      'response.output_item.added',
      { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: item('in_progress', '') },
    ],
    ...weatherPieces.map((piece, i) => [
      'response.function_call_arguments.delta',
      {
        type: 'response.function_call_arguments.delta',
        sequence_number: 2 + i,
        item_id: 'fc_offline',
        output_index: 0,
        delta: piece,
      },
    ]),
    [
      'response.function_call_arguments.done',
      {
        type: 'response.function_call_arguments.done',
        sequence_number: 6,
        item_id: 'fc_offline',
        output_index: 0,
        arguments: weather.arguments,
      },
    ],
    [
      'response.output_item.done',
      {
        type: 'response.output_item.done',
        sequence_number: 7,
        output_index: 0,
        item: item('completed', weather.arguments),
      },
    ],
    [
      'response.completed',
      {
        type: 'response.completed',
        sequence_number: 8,
        response: responseObject('completed', [item('completed', weather.arguments)], {
          input_tokens: prompt,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: sent,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: prompt + sent,
        }),
      },
    ],
  ]);
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ sentTokens: sent, completionTokens: sent });
});

test("stream-error on the Responses API: the API's own error event after afterTokens tokens", async () => {
  const upstream = await startUpstream({ behave: () => ({ kind: 'stream-error', afterTokens: 2 }) });
  const answer = await post(`${upstream.baseURL}/responses`, { model: 'gpt-4o', input: 'Say hi', stream: true });
  const events = readEvents(answer.text);
  expect(events.slice(3).map(({ event, data }) => [event, data])).toEqual([
    ...responsesTextEvents(['ok', ' ok'], 3),
    ['error', { type: 'error', sequence_number: 5, code: 'server_error', message: 'staged failure mid-stream', param: null }],
  ]);
  await upstream.idle();
  expect(upstream.calls[0]).toMatchObject({ outcome: 'answered', failedMidStream: true, completionTokens: 2 });
});

test('a Responses stream whose reasoning leaves less than the cap and fills it is incomplete', async () => {
  const upstream = await startUpstream({ reasoningTokens: () => 2 });
  const answer = await post(`${upstream.baseURL}/responses`, {
    model: 'gpt-4o',
    input: 'Say hi',
    stream: true,
    max_output_tokens: 16,
  });
  const last = readEvents(answer.text).at(-1)!;
  expect(last.event).toBe('response.incomplete');
  expect(last.data).toMatchObject({ response: { usage: { output_tokens: 16, output_tokens_details: { reasoning_tokens: 2 } } } });
});

test('arguments of a whole number of 8-character slices stream in exactly that many deltas', async () => {
  const args = '{"city":"Paris","u":"c"}';
  expect(args.length).toBe(24);
  const upstream = await startUpstream({ behave: () => ({ kind: 'reply', toolCall: { name: 'get_weather', arguments: args } }) });
  const answer = await post(`${upstream.baseURL}/chat/completions`, { model: 'gpt-4o', messages, stream: true });
  const argumentDeltas = readEvents(answer.text)
    .map(({ data }) => data as { choices?: { delta?: { tool_calls?: { function: { arguments?: string } }[] } }[] })
    .map((data) => data.choices?.[0]?.delta?.tool_calls?.[0]?.function.arguments)
    .filter((piece) => piece !== undefined);
  // The first is the name's delta, whose arguments are empty.
  expect(argumentDeltas).toEqual(['', '{"city":', '"Paris",', '"u":"c"}']);
});

test('a client that leaves a slow stream is billed by the time idle() resolves, not at the next chunk', async () => {
  const upstream = await startUpstream({ chunkIntervalMs: 1_000 });
  const controller = new AbortController();
  const res = await fetch(`${upstream.baseURL}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  controller.abort();
  await upstream.idle();
  expect(upstream.calls[0]!.outcome).toBe('client-gone');
  expect(upstream.calls[0]!.usage).toEqual({ prompt_tokens: prompt, completion_tokens: 0, total_tokens: prompt });
});

test.each([
  ['a paced stream', { chunkIntervalMs: 60_000 }, { stream: true }],
  ['a delayed reply', { behave: () => ({ kind: 'delay', ms: 60_000 }) as UpstreamBehaviour }, {}],
])('%s whose client leaves leaves no timer behind (it would keep a test runner from exiting)', async (_name, options, body) => {
  // Only the upstream's timers are faked: sockets, setImmediate and the HTTP client run as they do.
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask', 'performance', 'Date'] });
  try {
    const upstream = await startUpstream(options);
    const request = http.request(`${upstream.baseURL}/chat/completions`, { method: 'POST', agent: false });
    request.on('error', () => {});
    request.end(JSON.stringify({ model: 'gpt-4o', messages, ...body }));
    while (upstream.calls.length === 0 || jest.getTimerCount() === 0) await new Promise((resolve) => setImmediate(resolve));
    request.destroy();
    await upstream.idle();
    await new Promise((resolve) => setImmediate(resolve));
    expect(upstream.calls[0]!.outcome).toBe('client-gone');
    expect(jest.getTimerCount()).toBe(0);
  } finally {
    jest.useRealTimers();
  }
});

test('a pause asked for after its client has gone ends at once, with no timer', async () => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask', 'performance', 'Date'] });
  try {
    await pauseUnlessGone({ destroyed: true } as http.ServerResponse, 60_000);
    expect(jest.getTimerCount()).toBe(0);
  } finally {
    jest.useRealTimers();
  }
});
