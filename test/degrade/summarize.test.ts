// The pieces of a summary: the transcript and its bound, where the summary goes, the cache key, the options.
import OpenAI from 'openai';
import { TokenBudgetConfigError } from '../../lib';
import { readSummarizer } from '../../lib/degrade/options';
import {
  boundedTranscript,
  completionText,
  summaryCacheKey,
  summaryRequest,
  transcriptLines,
  withSummary,
} from '../../lib/degrade/summarize';
import type { ChatMessage } from '../../lib/messages';
import { getEncoder } from '../../lib/tokens/encoder';
import { requireModel } from '../../lib/tokens/models';

const MINI = requireModel('gpt-4o-mini');

test('a transcript is one line per message; tool calls keep their name and arguments, images a marker', () => {
  const messages: ChatMessage[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Weather?' },
        { type: 'image_url', image_url: { url: 'https://x/y.png' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
        { id: 'c2', type: 'function', function: { name: 'time', arguments: '{}' } },
      ],
    },
    { role: 'tool', content: '12 °C', tool_call_id: 'c1' },
  ];
  expect(transcriptLines(messages)).toEqual([
    'user: Weather? [image]',
    'assistant:  [calls weather({"city":"Oslo"})] [calls time({})]',
    'tool: 12 °C',
  ]);
});

test('the transcript keeps the newest lines that fit, each counted with its newline', () => {
  const lines = ['user: one two three', 'assistant: four five', 'user: six'];
  const cost = (line: string) => getEncoder(MINI.encoding).count(line) + 1;
  const lastTwo = cost(lines[1]!) + cost(lines[2]!);
  expect(boundedTranscript(lines, MINI, lastTwo)).toEqual({ text: 'assistant: four five\nuser: six', kept: 2 });
  expect(boundedTranscript(lines, MINI, lastTwo - 1)).toEqual({ text: 'user: six', kept: 1 });
  expect(boundedTranscript(lines, MINI, 0)).toEqual({ text: '', kept: 0 });
});

test('the summary goes after the leading system and developer messages', () => {
  const system: ChatMessage = { role: 'system', content: 'S' };
  const developer: ChatMessage = { role: 'developer', content: 'D' };
  const user: ChatMessage = { role: 'user', content: 'U' };
  const summary = { role: 'system', content: 'Summary of the earlier conversation:\nX' };
  expect(withSummary([system, developer, user], 'X')).toEqual([system, developer, summary, user]);
  expect(withSummary([user], 'X')).toEqual([summary, user]);
  expect(withSummary([system], 'X')).toEqual([system, summary]);
});

test('the summary call: the instruction as the system message, the transcript as the user message', () => {
  expect(summaryRequest('P', 'T')).toEqual([
    { role: 'system', content: 'P' },
    { role: 'user', content: 'T' },
  ]);
});

test('the cache key changes with the model, the prompt and the transcript', () => {
  const key = summaryCacheKey({ model: 'gpt-4o-mini', prompt: 'P' }, 'T');
  expect(key).toMatch(/^token-budget:summary:[\w-]{43}$/);
  expect(summaryCacheKey({ model: 'gpt-4o-mini', prompt: 'P' }, 'T')).toBe(key);
  expect(summaryCacheKey({ model: 'gpt-4.1-nano', prompt: 'P' }, 'T')).not.toBe(key);
  expect(summaryCacheKey({ model: 'gpt-4o-mini', prompt: 'Q' }, 'T')).not.toBe(key);
  expect(summaryCacheKey({ model: 'gpt-4o-mini', prompt: 'P' }, 'U')).not.toBe(key);
  // The parts are kept apart: moving text from one to the next makes another key.
  expect(summaryCacheKey({ model: 'gpt-4o', prompt: '-miniP' }, 'T')).not.toBe(key);
  expect(summaryCacheKey({ model: 'gpt-4o-mini', prompt: 'PT' }, '')).not.toBe(key);
});

test('a completion without text is no summary', () => {
  expect(completionText({ choices: [{ message: { content: 'Short.' } }] })).toBe('Short.');
  expect(completionText({ choices: [{ message: { content: '  ' } }] })).toBeUndefined();
  expect(completionText({ choices: [] })).toBeUndefined();
  expect(completionText({})).toBeUndefined();
  expect(completionText({ choices: [{}] })).toBeUndefined();
  expect(completionText({ choices: [{ message: { content: 42 } }] })).toBeUndefined();
  expect(completionText(null)).toBeUndefined();
});

describe('readSummarizer', () => {
  const client = new OpenAI({ apiKey: 'sk-test' });
  const read = (options: object) => () => readSummarizer(options, 'features.chat', () => MINI);

  test('defaults: a 30 s time-out, the built-in prompt, fallback truncate, no cache', () => {
    expect(read({ summarizer: { client, model: 'gpt-4o-mini', maxInput: 100, maxOutput: 10 } })()).toMatchObject({
      timeoutMs: 30_000,
      prompt: expect.stringMatching(/^Summarize the conversation below/),
      fallback: 'truncate',
      cache: undefined,
    });
  });

  test('what is given is kept: the model, its figures, the prompt, the time-out, the fallback and the cache', () => {
    const cache = { get: () => undefined, set: () => {} };
    const summarizer = { client, model: 'gpt-4o-mini', maxInput: 100, maxOutput: 10, prompt: 'P', timeoutMs: 5 };
    expect(read({ summarizer, summarizeFallback: 'reject', summaryCache: cache })()).toEqual({
      client,
      model: 'gpt-4o-mini',
      modelInfo: MINI,
      maxInput: 100,
      maxOutput: 10,
      prompt: 'P',
      timeoutMs: 5,
      fallback: 'reject',
      cache,
    });
  });

  test('its model is resolved as the feature model is, at its own path', () => {
    const resolved: unknown[] = [];
    const resolve = (model: unknown, path: string) => (resolved.push([model, path]), MINI);
    readSummarizer({ summarizer: { client, model: 'mini', maxInput: 1, maxOutput: 1 } }, 'features.chat', resolve);
    expect(resolved).toEqual([['mini', 'features.chat.summarizer.model']]);
  });

  test('no summarizer reads as none, its fallback and cache checked all the same', () => {
    expect(read({})()).toBeUndefined();
    expect(read({ summarizeFallback: 'reject', summaryCache: { get: () => undefined, set: () => {} } })()).toBeUndefined();
  });

  test.each([
    [
      { summarizer: 'gpt-4o-mini' },
      'TB_INVALID_OPTION',
      'features.chat.summarizer must be { client, model, maxInput, maxOutput }.',
    ],
    [{ summarizer: null }, 'TB_INVALID_OPTION', 'features.chat.summarizer must be { client, model, maxInput, maxOutput }.'],
    [
      { summarizer: { client: {}, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1 } },
      'TB_INVALID_OPTION',
      'features.chat.summarizer.client must be an OpenAI client (e.g. new OpenAI()).',
    ],
    [
      { summarizer: { client: { chat: {} }, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1 } },
      'TB_INVALID_OPTION',
      'features.chat.summarizer.client must be an OpenAI client (e.g. new OpenAI()).',
    ],
    [
      { summarizer: { client, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1, prompt: '' } },
      'TB_INVALID_OPTION',
      'features.chat.summarizer.prompt must be a non-empty string.',
    ],
    [
      { summarizer: { client, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1, prompt: 5 } },
      'TB_INVALID_OPTION',
      'features.chat.summarizer.prompt must be a non-empty string.',
    ],
    [
      { summarizer: { client, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 2.5 } },
      'TB_INVALID_LIMIT',
      'features.chat.summarizer.maxOutput must be a positive integer; got 2.5.',
    ],
    [
      { summarizer: { client, model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1, timeoutMs: 0 } },
      'TB_INVALID_LIMIT',
      'features.chat.summarizer.timeoutMs must be a positive integer; got 0.',
    ],
    [{ summaryCache: null }, 'TB_INVALID_OPTION', 'features.chat.summaryCache must be { get(key), set(key, summary) }.'],
    [
      { summaryCache: { set: () => {} } },
      'TB_INVALID_OPTION',
      'features.chat.summaryCache must be { get(key), set(key, summary) }.',
    ],
    [
      { summarizer: { model: 'gpt-4o-mini', maxInput: 1, maxOutput: 1 } },
      'TB_INVALID_OPTION',
      'features.chat.summarizer.client must be an OpenAI client (e.g. new OpenAI()).',
    ],
    [
      { summarizer: { client, model: 'gpt-4o-mini', maxInput: 0, maxOutput: 1 } },
      'TB_INVALID_LIMIT',
      'features.chat.summarizer.maxInput must be a positive integer; got 0.',
    ],
    [
      { summarizeFallback: 'drop' },
      'TB_INVALID_OPTION',
      "features.chat.summarizeFallback must be 'truncate' or 'reject'; got \"drop\".",
    ],
    [
      { summaryCache: { get: () => undefined } },
      'TB_INVALID_OPTION',
      'features.chat.summaryCache must be { get(key), set(key, summary) }.',
    ],
  ] as const)('%j is refused (case %#)', (options, code, message) => {
    expect(read(options)).toThrow(new TokenBudgetConfigError(code, message));
  });
});
