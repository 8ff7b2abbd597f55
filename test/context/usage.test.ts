// What a call billed: usage in the chat and Responses shapes, and a reply without usage counted (both APIs).
import { countTokens } from '../../lib';
import { billedUsage, countReplyTokens, usageOf } from '../../lib/usage';

/** The tokens of `texts` counted one by one, as a reply's generated texts are. */
const tokensOf = (...texts: string[]) => texts.map((text) => countTokens(text, 'gpt-4o')).reduce((a, b) => a + b, 0);

describe('usageOf', () => {
  test('the usage object of a result, else undefined', () => {
    const usage = { prompt_tokens: 1, completion_tokens: 2 };
    expect(usageOf({ usage })).toBe(usage);
    for (const result of [undefined, null, 'usage', {}, { usage: null }, { usage: 12 }]) expect(usageOf(result)).toBeUndefined();
  });
});

describe('billedUsage', () => {
  test('reads the Responses API usage: input, cached input, output (reasoning included)', () => {
    const usage = {
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 64 },
      output_tokens: 50,
      output_tokens_details: { reasoning_tokens: 30 },
      total_tokens: 170,
    };
    // The counted input (100) is not what the provider reported: its own figures win.
    expect(billedUsage(usage, 100)).toEqual({ input: 120, cachedInput: 64, output: 50 });
  });

  test('reads chat usage as before', () => {
    const usage = { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27, prompt_tokens_details: { cached_tokens: 3 } };
    expect(billedUsage(usage, 25)).toEqual({ input: 20, cachedInput: 3, output: 7 });
  });

  test('zero is a count; counts are rounded; cached input is at most the input, and zero when not said', () => {
    expect(billedUsage({ prompt_tokens: 10, completion_tokens: 0 }, 99)).toEqual({ input: 10, cachedInput: 0, output: 0 });
    expect(billedUsage({ prompt_tokens: 10.6, completion_tokens: 2.4 }, 99)).toEqual({ input: 11, cachedInput: 0, output: 2 });
    const overCached = { prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 15 } };
    expect(billedUsage(overCached, 99)).toEqual({ input: 10, cachedInput: 10, output: 1 });
    const fractionCached = { input_tokens: 10, output_tokens: 1, input_tokens_details: { cached_tokens: 3.7 } };
    expect(billedUsage(fractionCached, 99)).toEqual({ input: 10, cachedInput: 4, output: 1 });
  });

  test('a total alone is split at the counted input, rounded; nothing usable is undefined', () => {
    expect(billedUsage({ total_tokens: 30.2 }, 25)).toEqual({ input: 25, cachedInput: 0, output: 5 });
    expect(billedUsage({ total_tokens: 30 }, 40)).toEqual({ input: 30, cachedInput: 0, output: 0 });
    // A negative or infinite figure is no count: the total decides, or nothing does.
    expect(billedUsage({ prompt_tokens: -1, completion_tokens: 5, total_tokens: 8 }, 6)).toEqual({
      input: 6,
      cachedInput: 0,
      output: 2,
    });
    expect(billedUsage({ prompt_tokens: 3, completion_tokens: Infinity }, 6)).toBeUndefined();
    expect(billedUsage({ total_tokens: -3 }, 6)).toBeUndefined();
    expect(billedUsage(undefined, 6)).toBeUndefined();
  });
});

describe('countReplyTokens', () => {
  test('a chat completion: content, refusal, reasoning, tool-call and function-call names and arguments; nothing else', () => {
    const completion = {
      choices: [
        null,
        { message: null },
        {
          message: {
            role: 'assistant',
            content: 'It is sunny.',
            refusal: 'No.',
            reasoning_content: 'Think.',
            tool_calls: [null, { id: 'a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
            function_call: { name: 'lookup', arguments: 42 },
          },
        },
        { message: { role: 'assistant', content: null, tool_calls: 'not a list', function_call: 'not a call' } },
      ],
    };
    expect(countReplyTokens(completion, 'o200k_base')).toBe(
      tokensOf('It is sunny.', 'No.', 'Think.', 'get_weather', '{"city":"Paris"}', 'lookup'),
    );
  });

  test('a response reads text and refusal parts of every item, skipping what is not text', () => {
    const response = {
      output: [
        null,
        'not an item',
        { type: 'function_call', name: 7, arguments: '{}' },
        { type: 'message', content: [null, { text: 5, refusal: 'No.' }, { text: 'Yes.' }], summary: 'not a list' },
        { type: 'message', content: 'not a list', summary: [{ text: 'Sum.' }] },
      ],
    };
    expect(countReplyTokens(response, 'o200k_base')).toBe(tokensOf('{}', 'No.', 'Yes.', 'Sum.'));
  });

  test('an empty chat completion or response counts zero', () => {
    expect(countReplyTokens({ choices: [] }, 'o200k_base')).toBe(0);
    expect(countReplyTokens({ output: [] }, 'o200k_base')).toBe(0);
    expect(countReplyTokens(null, 'o200k_base')).toBeUndefined();
  });

  test('a Responses response: message text, refusals, function-call names and arguments, reasoning summaries', () => {
    const response = {
      object: 'response',
      output: [
        { type: 'reasoning', id: 'rs', summary: [{ type: 'summary_text', text: 'Think about the weather.' }] },
        {
          type: 'message',
          role: 'assistant',
          content: [
            { type: 'output_text', text: 'It is sunny.' },
            { type: 'refusal', refusal: 'No.' },
          ],
        },
        { type: 'function_call', call_id: 'c', name: 'get_weather', arguments: '{"city":"Paris"}' },
      ],
    };
    const expected = ['Think about the weather.', 'It is sunny.', 'No.', 'get_weather', '{"city":"Paris"}']
      .map((text) => countTokens(text, 'gpt-4o'))
      .reduce((a, b) => a + b);
    expect(countReplyTokens(response, 'o200k_base')).toBe(expected);
  });

  test('neither a chat completion nor a response: undefined', () => {
    expect(countReplyTokens({ text: 'hi' }, 'o200k_base')).toBeUndefined();
  });
});
