// readResponsesRequest on its own: input items read as chat messages, instructions first, function tools, forwarded parameters, and each refusal's message.
import { isInstructions, isResponsesBody, readResponsesRequest } from '../../lib/responses/request';
import { invalidRequestMessage } from '../helpers/refusal';

const read = (body: Record<string, unknown>, maxMessages = 10) => readResponsesRequest(body, maxMessages);

/** The message of the 400 invalid_request `body` is answered with. */
const refusalMessage = (body: Record<string, unknown>, maxMessages = 10): string =>
  invalidRequestMessage(() => read(body, maxMessages));

describe('input', () => {
  test('a string is one user message; instructions come first as a system message, and only they are instructions', () => {
    const { messages } = read({ input: 'Hi', instructions: 'Be brief.' });
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(messages.map(isInstructions)).toEqual([true, false]);
    expect(read({ input: [{ role: 'system', content: 'Be brief.' }] }).messages.map(isInstructions)).toEqual([false]);
  });

  test('null instructions are none', () => {
    expect(read({ input: 'Hi', instructions: null }).messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  test('messages with text, output text, refusal and image parts, with and without type', () => {
    const { messages } = read({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' },
            { type: 'input_image', image_url: 'https://example.com/b.png' },
          ],
        },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'A cat.' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: 'No more.' }] },
        { role: 'developer', content: 'Plain text.' },
      ],
    });
    expect(messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'A cat.' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'No more.' }] },
      { role: 'developer', content: 'Plain text.' },
    ]);
    // Not even `detail: undefined`: the part is as the client sent it.
    expect(Object.keys((messages[0]!.content as { image_url?: object }[])[2]!.image_url!)).toEqual(['url']);
  });

  test('a function call is an assistant tool call; its output, a string or text parts, is a tool message', () => {
    const { messages } = read({
      input: [
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"celsius":21}' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'sunny' }] },
      ],
    });
    expect(messages).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', content: '{"celsius":21}', tool_call_id: 'call_1' },
      { role: 'tool', content: [{ type: 'text', text: 'sunny' }], tool_call_id: 'call_2' },
    ]);
  });

  test.each([
    [
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] },
      'input[0].content[0].type "input_file" is not supported (it cannot be counted).',
    ],
    [
      { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f' }] }] },
      'input[0].content[0].image_url must be a URL: an image by file_id cannot be counted.',
    ],
    [
      { input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_file' }] }] },
      'input[0].output[0].type "input_file" is not supported (it cannot be counted).',
    ],
    [
      { input: ['Hi', { type: 'item_reference', id: 'x' }] },
      'input[1].type "item_reference" is not supported (it cannot be counted).',
    ],
    [{ input: [{ type: 'x'.repeat(50) }] }, `input[0].type "${'x'.repeat(40)}" is not supported (it cannot be counted).`],
    [
      { input: [{ role: 'user', content: [{ type: 'y'.repeat(50) }] }] },
      `input[0].content[0].type "${'y'.repeat(40)}" is not supported (it cannot be counted).`,
    ],
    [{ input: [{ role: 'user', content: ['text'] }] }, 'input[0].content[0] must be an object.'],
    [{ input: ['Hi'] }, 'input[0] must be an object.'],
    [{ input: [] }, '"input" must not be empty.'],
    [{}, 'The request needs a "input" array (send JSON with Content-Type: application/json).'],
    [{ input: 'Hi', instructions: 7 }, '"instructions" must be a string.'],
  ])('%j is refused: %s', (body, message) => {
    expect(refusalMessage(body)).toBe(message);
  });

  test('at most maxMessages items', () => {
    expect(
      refusalMessage(
        {
          input: [
            { role: 'user', content: 'a' },
            { role: 'user', content: 'b' },
          ],
        },
        1,
      ),
    ).toBe('"input" has 2 entries; at most 1 are accepted.');
  });
});

test.each(['previous_response_id', 'conversation', 'prompt'])('%s, naming a prompt the budget cannot see, is refused', (name) => {
  expect(refusalMessage({ input: 'Hi', [name]: 'x' })).toBe(
    `"${name}" is not supported: the prompt it stands for cannot be counted. Send the whole input instead.`,
  );
  expect(read({ input: 'Hi', [name]: null }).messages).toHaveLength(1);
});

describe('tools', () => {
  test('function tools in the chat shape; none when the body has none', () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } } };
    const { tools } = read({
      input: 'Hi',
      tools: [
        { type: 'function', name: 'get_weather', description: 'The weather.', parameters, strict: true },
        { type: 'function', name: 'now' },
      ],
    });
    expect(tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'The weather.', parameters, strict: true } },
      { type: 'function', function: { name: 'now' } },
    ]);
    expect(read({ input: 'Hi' }).tools).toBeUndefined();
  });

  test.each([
    [{ type: 'web_search' }, 'tools[1] must be a function tool, { type: "function", name, ... }: other tools cannot be counted.'],
    ['get_weather', 'tools[1] must be a function tool, { type: "function", name, ... }: other tools cannot be counted.'],
  ])('%j is refused', (tool, message) => {
    expect(refusalMessage({ input: 'Hi', tools: [{ type: 'function', name: 'ok' }, tool] })).toBe(message);
  });

  test('tools that are no array are refused', () => {
    expect(refusalMessage({ input: 'Hi', tools: { type: 'function', name: 'ok' } })).toBe('"tools" must be an array.');
  });
});

describe('forwarded parameters', () => {
  test('the Responses parameters that pass their checks are forwarded; others are dropped', () => {
    const params = {
      temperature: 2,
      top_p: 0,
      top_logprobs: 20,
      parallel_tool_calls: false,
      store: true,
      tool_choice: { type: 'function', name: 'get_weather' },
      reasoning: { effort: 'low' },
      text: { format: { type: 'json_schema', schema: { type: 'object' } } },
    };
    const body = { input: 'Hi', ...params, model: 'gpt-4o', max_output_tokens: 9, user: 'someone' };
    expect(read(body).forwardParams).toEqual(params);
    expect(read({ input: 'Hi', tool_choice: 'auto', top_logprobs: 0 }).forwardParams).toEqual({
      tool_choice: 'auto',
      top_logprobs: 0,
    });
  });

  test.each([
    ['top_logprobs', 1.5],
    ['top_logprobs', 21],
    ['top_logprobs', -1],
    ['tool_choice', 7],
    ['tool_choice', { a: { b: { c: { d: { e: 1 } } } } }],
    ['reasoning', 'low'],
    ['reasoning', { a: { b: { c: 1 } } }],
    ['text', 'json'],
    ['text', JSON.parse(`${'{"a":'.repeat(33)}1${'}'.repeat(33)}`)],
  ])('%s: %j is refused', (name, value) => {
    expect(refusalMessage({ input: 'Hi', [name]: value })).toBe(`"${name}" has an invalid value.`);
  });

  test('a tool_choice, reasoning and text at their deepest are forwarded', () => {
    const body = {
      input: 'Hi',
      tool_choice: { a: { b: { c: { d: 1 } } } },
      reasoning: { a: { b: 1 } },
      text: JSON.parse(`${'{"a":'.repeat(32)}1${'}'.repeat(32)}`),
    };
    expect(Object.keys(read(body).forwardParams)).toEqual(['tool_choice', 'reasoning', 'text']);
  });
});

test('isResponsesBody: input and no messages', () => {
  expect(isResponsesBody({ input: 'Hi' })).toBe(true);
  expect(isResponsesBody({ input: 'Hi', messages: [] })).toBe(false);
  expect(isResponsesBody({ messages: [] })).toBe(false);
  expect(isResponsesBody({})).toBe(false);
});
