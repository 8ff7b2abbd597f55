// What a call billed: usage in the chat and Responses shapes, and a reply without usage counted (both APIs).
import { countTokens } from '../../lib';
import { billedUsage, countReplyTokens } from '../../lib/usage';

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
});

describe('countReplyTokens', () => {
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
