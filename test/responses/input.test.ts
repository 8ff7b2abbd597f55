// responseInput and responseTools on their own: budgeted chat messages and tools back in the Responses API's shape.
import type { ChatMessage } from '../../lib/messages';
import { responseInput, responseTools } from '../../lib/responses/input';
import { readResponsesRequest } from '../../lib/responses/request';

describe('responseInput', () => {
  test('the instructions message of a read request comes back as instructions, and only that one', () => {
    const { messages } = readResponsesRequest(
      {
        input: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Hi' },
        ],
        instructions: 'Be brief.',
      },
      10,
    );
    expect(responseInput(messages)).toEqual({
      instructions: 'Be brief.',
      input: [
        { role: 'system', content: 'Be kind.' },
        { role: 'user', content: 'Hi' },
      ],
    });
  });

  test('without instructions there is no instructions key', () => {
    expect(responseInput([{ role: 'system', content: 'Be kind.' }])).toStrictEqual({
      input: [{ role: 'system', content: 'Be kind.' }],
    });
  });

  test('text and image parts; an image without detail is sent as auto', () => {
    const message: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'high' } },
        { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
      ],
    };
    expect(responseInput([message]).input).toEqual([
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'What is this?' },
          { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'high' },
          { type: 'input_image', image_url: 'https://example.com/b.png', detail: 'auto' },
        ],
      },
    ]);
  });

  test('a user message of null content is sent with no parts', () => {
    expect(responseInput([{ role: 'user', content: null }]).input).toEqual([{ role: 'user', content: [] }]);
  });

  test("an assistant's text parts are joined; its tool calls are function calls after its text", () => {
    const message: ChatMessage = {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me ' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        { type: 'text', text: 'look.' },
      ],
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
    };
    expect(responseInput([message]).input).toEqual([
      { role: 'assistant', content: 'Let me look.' },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call', call_id: 'call_2', name: 'now', arguments: '{}' },
    ]);
  });

  test('an assistant with tool calls and no text sends the calls alone; with neither, an empty message', () => {
    const call = { id: 'call_1', type: 'function' as const, function: { name: 'now', arguments: '{}' } };
    expect(responseInput([{ role: 'assistant', content: null, tool_calls: [call] }]).input).toEqual([
      { type: 'function_call', call_id: 'call_1', name: 'now', arguments: '{}' },
    ]);
    expect(responseInput([{ role: 'assistant', content: '', tool_calls: [] }]).input).toEqual([
      { role: 'assistant', content: '' },
    ]);
    expect(responseInput([{ role: 'assistant', content: null }]).input).toEqual([{ role: 'assistant', content: '' }]);
  });

  test("a tool message is a call's output, its parts joined", () => {
    expect(
      responseInput([
        {
          role: 'tool',
          content: [
            { type: 'text', text: '{"celsius":' },
            { type: 'text', text: '21}' },
          ],
          tool_call_id: 'call_1',
        },
        { role: 'tool', content: 'done', tool_call_id: 'call_2' },
        { role: 'tool', content: null },
      ]).input,
    ).toEqual([
      { type: 'function_call_output', call_id: 'call_1', output: '{"celsius":21}' },
      { type: 'function_call_output', call_id: 'call_2', output: 'done' },
      { type: 'function_call_output', call_id: '', output: '' },
    ]);
  });
});

test('responseTools: function tools in the Responses shape, a missing description left out, missing parameters and strict null', () => {
  const parameters = { type: 'object', properties: { city: { type: 'string' } } };
  expect(
    responseTools([
      { type: 'function', function: { name: 'get_weather', description: 'The weather.', parameters, strict: true } },
      { type: 'function', function: { name: 'now' } },
    ]),
  ).toStrictEqual([
    { type: 'function', name: 'get_weather', description: 'The weather.', parameters, strict: true },
    { type: 'function', name: 'now', parameters: null, strict: null },
  ]);
});
