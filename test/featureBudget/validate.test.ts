// The request reader called directly: the exact 400 each malformed part gets, clean copies of what passes, forwarded parameters at their edges.
import {
  depthExceeds,
  readBody,
  readForwardParams,
  readList,
  readMessages,
  readTools,
  MAX_SCHEMA_DEPTH,
  CHAT_PARAMS,
} from '../../lib/validate';
import { invalidRequestMessage } from '../helpers/refusal';

/** `value` nested `depth` objects deep. */
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

describe('readMessages', () => {
  test.each<[string, unknown, string]>([
    ['a message that is no object', ['hi'], 'messages[0] must be an object.'],
    [
      'an unknown role',
      [{ role: 'wizard', content: 'x' }],
      'messages[0].role must be one of system, developer, user, assistant, tool; got "wizard".',
    ],
    [
      'a role that is no string',
      [{ role: 5, content: 'x' }],
      'messages[0].role must be one of system, developer, user, assistant, tool; got number.',
    ],
    [
      'a long role, cut at 40 characters',
      [{ role: 'r'.repeat(50), content: 'x' }],
      `messages[0].role must be one of system, developer, user, assistant, tool; got "${'r'.repeat(40)}".`,
    ],
    ['no content', [{ role: 'user' }], 'messages[0].content is required for user messages.'],
    [
      'null content without tool calls',
      [{ role: 'assistant', content: null }],
      'messages[0].content is required for assistant messages.',
    ],
    [
      'null content of a tool message',
      [{ role: 'tool', content: null, tool_call_id: 'a' }],
      'messages[0].content is required for tool messages.',
    ],
    ['numeric content', [{ role: 'user', content: 4 }], 'messages[0].content must be a string or an array of content parts.'],
    ['a part that is no object', [{ role: 'user', content: ['x'] }], 'messages[0].content[0] must be an object.'],
    [
      'a text part without text',
      [{ role: 'user', content: [{ type: 'text' }] }],
      'messages[0].content[0].text must be a string.',
    ],
    [
      'an image without a url',
      [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }],
      'messages[0].content[0].image_url.url must be a string.',
    ],
    [
      'an image that is no object',
      [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }],
      'messages[0].content[0].image_url.url must be a string.',
    ],
    [
      'a bad detail',
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'u', detail: 'max' } }] }],
      'messages[0].content[0].image_url.detail must be "low", "high" or "auto".',
    ],
    [
      'an image from the assistant',
      [{ role: 'assistant', content: [{ type: 'image_url', image_url: { url: 'u' } }] }],
      'messages[0].content[0].type "image_url" is not supported for assistant messages.',
    ],
    ['a numeric name', [{ role: 'user', content: 'x', name: 7 }], 'messages[0].name must be a string.'],
    [
      'tool calls that are no array',
      [{ role: 'assistant', content: null, tool_calls: {} }],
      'messages[0].tool_calls must be an array.',
    ],
    [
      'a tool call without an id',
      [{ role: 'assistant', content: null, tool_calls: [{ function: { name: 'f', arguments: '' } }] }],
      'messages[0].tool_calls[0] must have a string id and a function.',
    ],
    [
      'a tool call without a function',
      [{ role: 'assistant', content: null, tool_calls: [{ id: 'a' }] }],
      'messages[0].tool_calls[0] must have a string id and a function.',
    ],
    [
      'a tool call that is no object',
      [{ role: 'assistant', content: null, tool_calls: ['call'] }],
      'messages[0].tool_calls[0] must have a string id and a function.',
    ],
    [
      'a tool call with object arguments',
      [{ role: 'assistant', content: null, tool_calls: [{ id: 'a', function: { name: 'f', arguments: {} } }] }],
      'messages[0].tool_calls[0].function needs a string name and string arguments.',
    ],
    [
      'a tool call without a name',
      [{ role: 'assistant', content: null, tool_calls: [{ id: 'a', function: { arguments: '{}' } }] }],
      'messages[0].tool_calls[0].function needs a string name and string arguments.',
    ],
    [
      'a tool message without its call id',
      [{ role: 'tool', content: 'x' }],
      'messages[0].tool_call_id is required for tool messages.',
    ],
    ['a numeric tool call id', [{ role: 'tool', content: 'x', tool_call_id: 3 }], 'messages[0].tool_call_id must be a string.'],
  ])('%s', (_what, messages, message) => {
    expect(invalidRequestMessage(() => readMessages(messages, 10))).toBe(message);
  });

  test('clean copies keep only the fields the API knows', () => {
    const messages = [
      { role: 'system', content: 'Be brief.', extra: 1 },
      {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'Look', cache: true },
          { type: 'image_url', image_url: { url: 'u1', extra: 2 } },
          { type: 'image_url', image_url: { url: 'u2', detail: 'low' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c', type: 'x', function: { name: 'f', arguments: '{}', more: 1 } }],
      },
      { role: 'assistant', content: 'ok', tool_call_id: 'ignored' },
      { role: 'tool', content: 'done', tool_call_id: 'c', tool_calls: [] },
      { role: 'user', content: 'x', tool_calls: 'not read for users' },
    ];
    expect(readMessages(messages, 6)).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'image_url', image_url: { url: 'u1' } },
          { type: 'image_url', image_url: { url: 'u2', detail: 'low' } },
        ],
      },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'assistant', content: 'ok' },
      { role: 'tool', content: 'done', tool_call_id: 'c' },
      { role: 'user', content: 'x' },
    ]);
  });

  test('where(i) names an entry', () => {
    expect(invalidRequestMessage(() => readMessages([{ role: 'user' }], 10, (i) => `input[${i}]`))).toBe(
      'input[0].content is required for user messages.',
    );
  });
});

describe('readList', () => {
  test('missing, no array, empty, over the most: each its words; at the most, accepted', () => {
    expect(invalidRequestMessage(() => readList(undefined, 'messages', 2))).toBe(
      'The request needs a "messages" array (send JSON with Content-Type: application/json).',
    );
    expect(invalidRequestMessage(() => readList('hi', 'messages', 2))).toBe('"messages" must be an array.');
    expect(invalidRequestMessage(() => readList([], 'messages', 2))).toBe('"messages" must not be empty.');
    expect(invalidRequestMessage(() => readList([1, 2, 3], 'messages', 2))).toBe(
      '"messages" has 3 entries; at most 2 are accepted.',
    );
    expect(readList([1, 2], 'messages', 2)).toEqual([1, 2]);
  });
});

describe('readTools', () => {
  const tool = (fn: object) => ({ type: 'function', function: { name: 'f', ...fn } });

  test('none is undefined; a definition keeps name, description, parameters and a boolean strict only', () => {
    expect(readTools(undefined)).toBeUndefined();
    const parameters = { type: 'object', properties: { a: { type: ['string', 'null'], enum: ['x'], description: 'A.' } } };
    expect(readTools([tool({ description: 'Does f.', parameters, strict: true, extra: 1 }), tool({ strict: 'yes' })])).toEqual([
      { type: 'function', function: { name: 'f', description: 'Does f.', parameters, strict: true } },
      { type: 'function', function: { name: 'f' } },
    ]);
    expect(readTools([tool({ parameters: { type: 'object' } })])).toEqual([tool({ parameters: { type: 'object' } })]);
  });

  test('128 tools at most', () => {
    expect(readTools(Array.from({ length: 128 }, () => tool({})))).toHaveLength(128);
    expect(invalidRequestMessage(() => readTools(Array.from({ length: 129 }, () => tool({}))))).toBe(
      '"tools" has 129 entries; at most 128 are accepted.',
    );
  });

  test.each<[string, unknown, string]>([
    ['tools that are no array', 'all', '"tools" must be an array.'],
    ['a tool that is no object', ['f'], 'tools[0] must be { type: "function", function: { name, ... } }.'],
    [
      'a tool of another type',
      [{ type: 'web', function: { name: 'f' } }],
      'tools[0] must be { type: "function", function: { name, ... } }.',
    ],
    ['a tool without a function', [{ type: 'function' }], 'tools[0] must be { type: "function", function: { name, ... } }.'],
    ['a tool without a name', [{ type: 'function', function: {} }], 'tools[0].function.name must be a string.'],
    ['a numeric description', [tool({ description: 1 })], 'tools[0].function.description must be a string.'],
    ['parameters that are no object', [tool({ parameters: [] })], 'tools[0].function.parameters must be an object.'],
    [
      'parameters nested too deep',
      [tool({ parameters: nested(MAX_SCHEMA_DEPTH + 1) })],
      'tools[0].function.parameters nests deeper than 32 levels.',
    ],
    [
      'properties that are no object',
      [tool({ parameters: { properties: [] } })],
      'tools[0].function.parameters.properties must be an object.',
    ],
    [
      'a property that is no object',
      [tool({ parameters: { properties: { ['p'.repeat(50)]: 1 } } })],
      `tools[0].function.parameters.properties.${'p'.repeat(40)} must be an object.`,
    ],
    [
      'an enum that is no array',
      [tool({ parameters: { properties: { a: { enum: 'x' } } } })],
      'tools[0].function.parameters.properties.a.enum must be an array.',
    ],
    [
      'a numeric description of a property',
      [tool({ parameters: { properties: { a: { description: 1 } } } })],
      'tools[0].function.parameters.properties.a.description must be a string.',
    ],
    [
      'a type list with a number',
      [tool({ parameters: { properties: { a: { type: ['string', 1] } } } })],
      'tools[0].function.parameters.properties.a.type must be a string or an array of strings.',
    ],
    [
      'a type that is an object',
      [tool({ parameters: { properties: { a: { type: {} } } } })],
      'tools[0].function.parameters.properties.a.type must be a string or an array of strings.',
    ],
  ])('%s', (_what, tools, message) => {
    expect(invalidRequestMessage(() => readTools(tools))).toBe(message);
  });

  test('parameters exactly 32 levels deep are accepted', () => {
    expect(readTools([tool({ parameters: nested(MAX_SCHEMA_DEPTH) })])).toHaveLength(1);
  });
});

describe('depthExceeds', () => {
  test('counts objects and arrays, not the values in them', () => {
    expect(depthExceeds(nested(3), 3)).toBe(false);
    expect(depthExceeds(nested(4), 3)).toBe(true);
    expect(depthExceeds([[[]]], 2)).toBe(true);
    expect(depthExceeds('deep', 0)).toBe(false);
    expect(depthExceeds(null, 0)).toBe(false);
  });
});

describe('readForwardParams', () => {
  test('forwards the chat parameters it knows, at the edges of their ranges; drops the rest and nulls', () => {
    const body = {
      temperature: 2,
      top_p: 0,
      frequency_penalty: -2,
      presence_penalty: 2,
      seed: 42,
      top_logprobs: 20,
      logprobs: false,
      parallel_tool_calls: true,
      reasoning_effort: 'x'.repeat(16),
      stop: ['a', 'b', 'c', 'd'],
      tool_choice: { type: 'function', function: { name: 'f' } },
      response_format: { type: 'json_schema', json_schema: nested(MAX_SCHEMA_DEPTH - 1) },
      logit_bias: { '50256': -100 },
      model: 'gpt-4o',
      max_tokens: 10_000,
      n: 5,
      user: 'someone-else',
      stream: true,
    };
    const { model: _model, max_tokens: _max, n: _n, user: _user, stream: _stream, ...forwarded } = body;
    expect(readForwardParams({ ...body, top_p: null, seed: undefined })).toEqual({
      ...forwarded,
      top_p: undefined,
      seed: undefined,
    });
    expect(readForwardParams(body)).toEqual(forwarded);
    expect([...CHAT_PARAMS].sort()).toEqual(Object.keys(forwarded).sort());
  });

  test.each<[string, unknown]>([
    ['temperature', 2.01],
    ['temperature', -0.01],
    ['temperature', '1'],
    ['top_p', 1.01],
    ['frequency_penalty', -2.01],
    ['presence_penalty', 2.01],
    ['seed', 1.5],
    ['top_logprobs', 21],
    ['top_logprobs', 1.5],
    ['top_logprobs', -1],
    ['logprobs', 'yes'],
    ['parallel_tool_calls', 1],
    ['reasoning_effort', 'x'.repeat(17)],
    ['reasoning_effort', 3],
    ['stop', ['a', 'b', 'c', 'd', 'e']],
    ['stop', [1]],
    ['stop', 5],
    ['tool_choice', nested(5)],
    ['tool_choice', 3],
    ['response_format', nested(MAX_SCHEMA_DEPTH + 1)],
    ['response_format', 'json'],
    ['logit_bias', { '1': 'x' }],
    ['logit_bias', [1]],
  ])('%s: %j is a 400', (name, value) => {
    expect(invalidRequestMessage(() => readForwardParams({ [name]: value }))).toBe(`"${name}" has an invalid value.`);
  });

  test('a string stop and tool_choice are forwarded', () => {
    expect(readForwardParams({ stop: 'END', tool_choice: 'auto' })).toEqual({ stop: 'END', tool_choice: 'auto' });
  });
});

test('readBody: an object passes; anything else is a 400 naming the content type', () => {
  const body = { messages: [] };
  expect(readBody(body)).toBe(body);
  for (const bad of [undefined, null, 'text', [1]]) {
    expect(invalidRequestMessage(() => readBody(bad))).toBe(
      'The request body must be a JSON object (send Content-Type: application/json).',
    );
  }
});
