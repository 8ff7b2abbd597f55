// Bad bodies: every one is a 400 JSON error naming the problem — never a 500, never an upstream call.
import request from 'supertest';
import { startTestApp, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

function deeplyNested(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) value = { type: 'object', properties: { x: value } };
  return value;
}

const user = (content: unknown) => ({ role: 'user', content });

const BAD_BODIES: Array<[string, () => request.Test]> = [
  ['no body at all', () => request(t.app).post('/chat')],
  ['a text body', () => request(t.app).post('/chat').set('content-type', 'text/plain').send('hello')],
  ['malformed JSON', () => request(t.app).post('/chat').set('content-type', 'application/json').send('{"messages": [')],
  ['a JSON array body', () => request(t.app).post('/chat').send([1, 2])],
  ['messages missing', () => request(t.app).post('/chat').send({ prompt: 'hi' })],
  ['messages not an array', () => request(t.app).post('/chat').send({ messages: 'hi' })],
  ['messages empty', () => request(t.app).post('/chat').send({ messages: [] })],
  [
    'a message that is not an object',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: ['hi'] }),
  ],
  [
    'an unknown role',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'wizard', content: 'hi' }] }),
  ],
  [
    'the legacy function role',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'function', content: 'hi' }] }),
  ],
  [
    'numeric content',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user(42)] }),
  ],
  [
    'object content',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user({ text: 'hi' })] }),
  ],
  [
    'missing user content',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'user' }] }),
  ],
  [
    'a part with an unknown type',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user([{ type: 'audio', data: 'x' }])] }),
  ],
  [
    'a text part without text',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user([{ type: 'text' }])] }),
  ],
  [
    'an image in a system message',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
  ],
  [
    'a bad image detail',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user([{ type: 'image_url', image_url: { url: 'x', detail: 'max' } }])] }),
  ],
  [
    'a numeric name',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'user', content: 'hi', name: 7 }] }),
  ],
  [
    'a tool message without tool_call_id',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'tool', content: 'x' }] }),
  ],
  [
    'tool_calls that are not an array',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: 'assistant', content: null, tool_calls: {} }] }),
  ],
  [
    'a tool call with object arguments',
    () =>
      request(t.app)
        .post('/chat')
        .send({
          messages: [
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: {} } }],
            },
          ],
        }),
  ],
  [
    '10,000 messages',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: Array.from({ length: 10_000 }, () => user('hi')) }),
  ],
  [
    'tools not an array',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user('hi')], tools: 'all' }),
  ],
  [
    'a tool without a name',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user('hi')], tools: [{ type: 'function', function: {} }] }),
  ],
  [
    'deeply nested junk in tool parameters',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user('hi')], tools: [{ type: 'function', function: { name: 'f', parameters: deeplyNested(2000) } }] }),
  ],
  [
    'a role that is an object with toString',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [{ role: { toString: 1 }, content: 'x' }] }),
  ],
  [
    'a part type that is an object with toString',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user([{ type: { toString: 1 } }])] }),
  ],
  ...[{ a: null }, { a: { enum: 5 } }, { a: { description: 5 } }, { a: { type: { toString: 1 } } }, ['x']].map(
    (properties): [string, () => request.Test] => [
      `tool properties ${JSON.stringify(properties)}`,
      () =>
        request(t.app)
          .post('/chat')
          .send({
            messages: [user('hi')],
            tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties } } }],
          }),
    ],
  ),
  [
    'a temperature that is a string',
    () =>
      request(t.app)
        .post('/chat')
        .send({ messages: [user('hi')], temperature: 'hot' }),
  ],
];

test.each(BAD_BODIES)('%s → 400 invalid_request', async (_name, send) => {
  const before = t.upstream.calls.length;
  const res = await send();
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.body.error.type).toBe('invalid_request');
  expect(typeof res.body.error.message).toBe('string');
  expect(t.upstream.calls.length).toBe(before);
});

test('a body over the JSON limit is a 413 JSON error', async () => {
  const res = await request(t.app)
    .post('/chat')
    .send({ messages: [user('x'.repeat(3 * 1024 * 1024))] });
  expect(res.status).toBe(413);
  expect(res.body.error.type).toBe('input_too_large');
});

test('the message names where the problem is', async () => {
  const res = await request(t.app)
    .post('/chat')
    .send({ messages: [user('ok'), { role: 'wizard', content: 'x' }] });
  expect(res.body.error.message).toMatch(/messages\[1\]\.role/);
});

test('unknown message fields are not forwarded upstream', async () => {
  const res = await request(t.app)
    .post('/chat')
    .send({ messages: [{ role: 'user', content: 'hi', audio: { id: 'x' }, extra: 1 }] });
  expect(res.status).toBe(200);
  expect(t.upstream.calls.at(-1)!.request.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
});
