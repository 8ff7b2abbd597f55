// The request reader's clean copies compared strictly (no field left undefined in them), and the values each check lets through or refuses.
import { readForwardParams, readMessages, readTools } from '../../lib/validate';
import { invalidRequestMessage } from '../helpers/refusal';

describe('messages', () => {
  test('a copy has no name, tool calls or image detail that the message did not have', () => {
    const messages = [
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'u' } }] },
      { role: 'assistant', content: 'ok' },
    ];
    expect(readMessages(messages, 10)).toStrictEqual([
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'u' } }] },
      { role: 'assistant', content: 'ok' },
    ]);
  });

  test.each(['low', 'high', 'auto'])('an image of detail %s is kept with it', (detail) => {
    expect(readMessages([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'u', detail } }] }], 10)).toStrictEqual(
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'u', detail } }] }],
    );
  });

  test('a user part of a type the API does not take here is named by its type', () => {
    expect(
      invalidRequestMessage(() => readMessages([{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }], 10)),
    ).toBe('messages[0].content[0].type "input_audio" is not supported for user messages.');
  });

  test('no messages at all: the 400 names the "messages" array', () => {
    expect(invalidRequestMessage(() => readMessages(undefined, 10))).toBe(
      'The request needs a "messages" array (send JSON with Content-Type: application/json).',
    );
  });
});

describe('tools', () => {
  const withProperties = (properties: Record<string, unknown>) => [
    { type: 'function', function: { name: 'f', parameters: { type: 'object', properties } } },
  ];

  test('a copy has no description that the definition did not have', () => {
    expect(readTools([{ type: 'function', function: { name: 'f' } }])).toStrictEqual([
      { type: 'function', function: { name: 'f' } },
    ]);
  });

  test('a property may have a string type, a list of them, or none', () => {
    const properties = { a: { type: 'string' }, b: { type: ['integer', 'null'] }, c: { description: 'Any.' } };
    expect(readTools(withProperties(properties))).toEqual(withProperties(properties));
  });

  test.each<[string, unknown]>([
    ['a number', 5],
    ['a list with a number', ['string', 1]],
  ])('a property whose type is %s is a 400', (_what, type) => {
    expect(invalidRequestMessage(() => readTools(withProperties({ a: { type } })))).toBe(
      'tools[0].function.parameters.properties.a.type must be a string or an array of strings.',
    );
  });
});

describe('forwarded parameters', () => {
  test.each<[string, unknown]>([
    ['reasoning_effort', ['low']],
    ['stop', ['END', 1]],
    ['logit_bias', { '50256': -100, '50257': 'x' }],
  ])('%s: %j, partly of the right type, is a 400', (name, value) => {
    expect(invalidRequestMessage(() => readForwardParams({ [name]: value }))).toBe(`"${name}" has an invalid value.`);
  });
});
