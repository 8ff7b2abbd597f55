// What featureBudget reads from a client's body: each bad value is a 400 naming where it is; good ones are forwarded clean.
import request from 'supertest';
import { optionApp, scriptedClient } from '../helpers/options';

const client = scriptedClient();
// Room for images (765 tokens each at high detail).
const features = { chat: { maxInput: 20_000, maxOutput: 1000, model: 'gpt-4o' } };
const { app } = optionApp({ features }, (b) => [b.featureBudget('chat'), b.llmHandler({ client })]);

const user = (content: unknown) => ({ role: 'user', content });
const hi = [user('hi')];
const tool = (fn: unknown) => ({ messages: hi, tools: [{ type: 'function', function: fn }] });
const toolCall = (call: unknown) => ({
  messages: [
    { role: 'assistant', content: null, tool_calls: [call] },
    { role: 'tool', tool_call_id: 'a', content: 'x' },
  ],
});

/** [what, body, what the 400's message says] */
const BAD: [string, unknown, string][] = [
  ['a body that is an array', [1], 'The request body must be a JSON object'],
  ['no messages', { prompt: 'hi' }, 'The request needs a "messages" array'],
  ['messages that are a string', { messages: 'hi' }, '"messages" must be an array.'],
  ['no message', { messages: [] }, '"messages" must not be empty.'],
  ['a message that is a string', { messages: ['hi'] }, 'messages[0] must be an object.'],
  [
    'an unknown role',
    { messages: [{ role: 'wizard', content: 'x' }] },
    'messages[0].role must be one of system, developer, user, assistant, tool; got "wizard".',
  ],
  ['a role that is not a string', { messages: [{ role: 7, content: 'x' }] }, 'got number.'],
  ['a long role, quoted short', { messages: [{ role: 'r'.repeat(100), content: 'x' }] }, `got "${'r'.repeat(40)}".`],
  ['numeric content', { messages: [user(42)] }, 'messages[0].content must be a string or an array of content parts.'],
  ['no content', { messages: [{ role: 'user' }] }, 'messages[0].content is required for user messages.'],
  [
    'null assistant content without tool calls',
    { messages: [{ role: 'assistant', content: null }] },
    'messages[0].content is required for assistant messages.',
  ],
  ['a part that is a string', { messages: [user(['x'])] }, 'messages[0].content[0] must be an object.'],
  ['a text part without text', { messages: [user([{ type: 'text' }])] }, 'messages[0].content[0].text must be a string.'],
  [
    'an unknown part',
    { messages: [user([{ type: 'audio' }])] },
    'messages[0].content[0].type "audio" is not supported for user messages.',
  ],
  [
    'an image in a system message',
    { messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'u' } }] }] },
    'messages[0].content[0].type "image_url" is not supported for system messages.',
  ],
  [
    'an image without url',
    { messages: [user([{ type: 'image_url', image_url: {} }])] },
    'messages[0].content[0].image_url.url must be a string.',
  ],
  [
    'an image that is a string',
    { messages: [user([{ type: 'image_url', image_url: 'u' }])] },
    'messages[0].content[0].image_url.url must be a string.',
  ],
  [
    'an image detail of "max"',
    { messages: [user([{ type: 'image_url', image_url: { url: 'u', detail: 'max' } }])] },
    'messages[0].content[0].image_url.detail must be "low", "high" or "auto".',
  ],
  ['a numeric name', { messages: [{ role: 'user', content: 'x', name: 7 }] }, 'messages[0].name must be a string.'],
  [
    'a tool message without its call id',
    { messages: [{ role: 'tool', content: 'x' }] },
    'messages[0].tool_call_id is required for tool messages.',
  ],
  [
    'a numeric tool call id',
    { messages: [{ role: 'tool', content: 'x', tool_call_id: 1 }] },
    'messages[0].tool_call_id must be a string.',
  ],
  [
    'tool_calls that are an object',
    { messages: [{ role: 'assistant', content: null, tool_calls: {} }] },
    'messages[0].tool_calls must be an array.',
  ],
  [
    'a tool call without id',
    toolCall({ function: { name: 'f', arguments: '{}' } }),
    'messages[0].tool_calls[0] must have a string id and a function.',
  ],
  ['a tool call that is a string', toolCall('f'), 'messages[0].tool_calls[0] must have a string id and a function.'],
  ['a tool call without function', toolCall({ id: 'a' }), 'messages[0].tool_calls[0] must have a string id and a function.'],
  [
    'a tool call with object arguments',
    toolCall({ id: 'a', function: { name: 'f', arguments: {} } }),
    'messages[0].tool_calls[0].function needs a string name and string arguments.',
  ],
  [
    'a tool call without name',
    toolCall({ id: 'a', function: { arguments: '{}' } }),
    'messages[0].tool_calls[0].function needs a string name and string arguments.',
  ],
  ['tools that are an object', { messages: hi, tools: {} }, '"tools" must be an array.'],
  [
    '129 tools',
    { messages: hi, tools: Array.from({ length: 129 }, () => ({ type: 'function', function: { name: 'f' } })) },
    '"tools" has 129 entries; at most 128 are accepted.',
  ],
  [
    'a tool of another type',
    { messages: hi, tools: [{ type: 'retrieval', function: { name: 'f' } }] },
    'tools[0] must be { type: "function", function: { name, ... } }.',
  ],
  [
    'a tool without function',
    { messages: hi, tools: [{ type: 'function' }] },
    'tools[0] must be { type: "function", function: { name, ... } }.',
  ],
  ['a tool that is a string', { messages: hi, tools: ['f'] }, 'tools[0] must be { type: "function", function: { name, ... } }.'],
  ['a tool without name', tool({}), 'tools[0].function.name must be a string.'],
  ['a numeric tool description', tool({ name: 'f', description: 1 }), 'tools[0].function.description must be a string.'],
  ['parameters that are a string', tool({ name: 'f', parameters: 's' }), 'tools[0].function.parameters must be an object.'],
  ['parameters that are an array', tool({ name: 'f', parameters: [] }), 'tools[0].function.parameters must be an object.'],
  [
    'properties that are an array',
    tool({ name: 'f', parameters: { properties: [] } }),
    'tools[0].function.parameters.properties must be an object.',
  ],
  [
    'a property that is a string',
    tool({ name: 'f', parameters: { properties: { a: 's' } } }),
    'tools[0].function.parameters.properties.a must be an object.',
  ],
  [
    'an enum that is a string',
    tool({ name: 'f', parameters: { properties: { a: { enum: 'x' } } } }),
    'tools[0].function.parameters.properties.a.enum must be an array.',
  ],
  [
    'a numeric property description',
    tool({ name: 'f', parameters: { properties: { a: { description: 1 } } } }),
    'tools[0].function.parameters.properties.a.description must be a string.',
  ],
  [
    'a numeric property type',
    tool({ name: 'f', parameters: { properties: { a: { type: 1 } } } }),
    'tools[0].function.parameters.properties.a.type must be a string or an array of strings.',
  ],
  [
    'a property type list with a number',
    tool({ name: 'f', parameters: { properties: { a: { type: ['string', 1] } } } }),
    'tools[0].function.parameters.properties.a.type must be a string or an array of strings.',
  ],
  [
    'a long property name, cut at 40',
    tool({ name: 'f', parameters: { properties: { ['p'.repeat(60)]: 's' } } }),
    `tools[0].function.parameters.properties.${'p'.repeat(40)} must be an object.`,
  ],
];

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { x: value };
  return value;
}

describe('a bad body is a 400 invalid_request whose message names the problem', () => {
  test.each(BAD)('%s', async (_what, body, message) => {
    const res = await request(app)
      .post('/chat')
      .send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request');
    expect(res.body.error.message).toContain(message);
  });
});

describe('schemas deeper than 32 levels are refused; 32 levels pass', () => {
  test('tool parameters', async () => {
    const deep = await request(app)
      .post('/chat')
      .send(tool({ name: 'f', parameters: nested(32) }));
    expect(deep.body.error.message).toBe('tools[0].function.parameters nests deeper than 32 levels.');
    await request(app)
      .post('/chat')
      .send(tool({ name: 'f', parameters: nested(31) }))
      .expect(200);
  });

  test('response_format', async () => {
    await request(app)
      .post('/chat')
      .send({ messages: hi, response_format: nested(32) })
      .expect(400);
    await request(app)
      .post('/chat')
      .send({ messages: hi, response_format: nested(31) })
      .expect(200);
  });

  test('tool_choice nests at most 4 levels', async () => {
    await request(app)
      .post('/chat')
      .send({ messages: hi, tool_choice: nested(4) })
      .expect(400);
    await request(app)
      .post('/chat')
      .send({ messages: hi, tool_choice: nested(3) })
      .expect(200);
  });
});

describe('forwarded parameters: what passes goes upstream as sent, one step past a bound is a 400', () => {
  /** [parameter, accepted values, refused values] */
  const BOUNDS: [string, unknown[], unknown[]][] = [
    ['temperature', [0, 2, 1.5], [-0.01, 2.01, '1']],
    ['top_p', [0, 1], [-0.01, 1.01, true]],
    ['frequency_penalty', [-2, 2], [-2.01, 2.01]],
    ['presence_penalty', [-2, 2], [-2.01, 2.01]],
    ['seed', [0, -5, 2 ** 53 - 1], [1.5, 2 ** 53, '1']],
    ['top_logprobs', [0, 20], [-1, 21, 1.5]],
    ['logprobs', [true, false], [1, 'true']],
    ['parallel_tool_calls', [false], [0]],
    ['reasoning_effort', ['low', 'x'.repeat(16)], ['x'.repeat(17), 1]],
    ['stop', ['END', ['a', 'b', 'c', 'd']], [['a', 'b', 'c', 'd', 'e'], [1], 5]],
    ['tool_choice', ['auto', { type: 'function', function: { name: 'f' } }], [1, ['auto']]],
    ['response_format', [{ type: 'json_object' }], ['json', ['json']]],
    ['logit_bias', [{ '50256': -100 }, {}], [{ '50256': '-100' }, [1]]],
  ];

  test.each(BOUNDS)('%s', async (name, accepted, refused) => {
    for (const value of accepted) {
      const before = client.calls.length;
      const res = await request(app)
        .post('/chat')
        .send({ messages: hi, [name]: value });
      expect([res.status, res.body.error]).toEqual([200, undefined]);
      expect(client.calls[before]!.params[name]).toEqual(value);
    }
    for (const value of refused) {
      const res = await request(app)
        .post('/chat')
        .send({ messages: hi, [name]: value });
      expect([res.status, res.body.error?.message]).toEqual([400, `"${name}" has an invalid value.`]);
    }
  });

  test('null means absent; other fields and a client-chosen model, cap, n or user are dropped', async () => {
    const before = client.calls.length;
    await request(app)
      .post('/chat')
      .send({
        messages: hi,
        temperature: null,
        model: 'gpt-4.1',
        max_tokens: 9,
        n: 5,
        user: 'someone',
        safety_identifier: 'x',
        stream: false,
      })
      .expect(200);
    const params = client.calls[before]!.params;
    expect(Object.keys(params).sort()).toEqual(['max_tokens', 'messages', 'model']);
    expect([params.model, params.max_tokens]).toEqual(['gpt-4o', 1000]);
  });
});

describe('what a good body becomes upstream', () => {
  test('messages keep only the fields the API knows, in shape', async () => {
    const before = client.calls.length;
    const messages = [
      { role: 'system', content: 'Be brief.', extra: 1 },
      { role: 'developer', content: [{ type: 'text', text: 'Rules.', extra: 1 }] },
      {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low', extra: 1 } },
          { type: 'image_url', image_url: { url: 'https://x/z.png' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'ignored', function: { name: 'f', arguments: '{}', extra: 1 }, extra: 1 }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'done', name: 'f' },
    ];
    await request(app).post('/chat').send({ messages }).expect(200);
    expect(client.calls[before]!.params.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Rules.' }] },
      {
        role: 'user',
        name: 'ann',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://x/z.png' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'done', name: 'f' },
    ]);
  });

  test('tools keep their name, description, parameters and strict flag only', async () => {
    const before = client.calls.length;
    const parameters = {
      type: 'object',
      properties: { city: { type: ['string', 'null'], description: 'Where', enum: ['Paris'] } },
    };
    await request(app)
      .post('/chat')
      .send({
        messages: hi,
        tools: [
          {
            type: 'function',
            function: { name: 'weather', description: 'Weather', parameters, strict: true, extra: 1 },
            extra: 1,
          },
          { type: 'function', function: { name: 'time', strict: 'yes' } },
        ],
      })
      .expect(200);
    expect(client.calls[before]!.params.tools).toEqual([
      { type: 'function', function: { name: 'weather', description: 'Weather', parameters, strict: true } },
      { type: 'function', function: { name: 'time' } },
    ]);
  });
});
