// The stream tallies on their own: which parts of a chunk or event count as output, which usage is kept, and odd shapes read as nothing.
import { ChatStreamTally } from '../../lib/stream/chat-tally';
import { ResponsesStreamTally } from '../../lib/stream/responses-tally';
import { getEncoder } from '../../lib/tokens/encoder';
import { loadAnew } from '../helpers/load-anew';

const count = (text: string) => getEncoder('o200k_base').count(text);
const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };
/** The Responses tally from a module loaded in the test: its Sets of event names are built as it loads. */
function freshResponsesTally(): ResponsesStreamTally {
  type Module = typeof import('../../lib/stream/responses-tally');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ResponsesStreamTally: Fresh } = loadAnew(() => require('../../lib/stream/responses-tally') as Module);
  return new Fresh('o200k_base');
}

describe('ChatStreamTally', () => {
  test('counts content, refusals, reasoning and tool-call names and arguments, each delta once', () => {
    const tally = new ChatStreamTally('o200k_base');
    const texts = ['Hello there', 'I cannot help with that.', 'Thinking it over', 'get_weather', '{"city":"Paris"}'];
    const [content, refusal, reasoning, name, args] = texts;
    tally.observe({ choices: [{ delta: { content, refusal, reasoning_content: reasoning } }] });
    tally.observe({ choices: [{ delta: { tool_calls: [{ function: { name, arguments: args } }] } }] });
    expect(tally.output).toBe(texts.reduce((sum, text) => sum + count(text), 0));
    expect(tally.usage).toBeUndefined();
  });

  test('reads every choice and every tool call of a chunk', () => {
    const tally = new ChatStreamTally('o200k_base');
    tally.observe({
      choices: [
        { delta: { content: 'first choice' } },
        { delta: { tool_calls: [{ function: { arguments: '{"a":1}' } }, { function: { arguments: '{"b":22}' } }] } },
      ],
    });
    expect(tally.output).toBe(count('first choice') + count('{"a":1}') + count('{"b":22}'));
  });

  test('keeps the usage a chunk reports, and only an object as usage', () => {
    const tally = new ChatStreamTally('o200k_base');
    tally.observe({ choices: [], usage });
    expect(tally.usage).toBe(usage);
    tally.observe({ choices: [], usage: null });
    tally.observe({ choices: [], usage: 12 });
    expect(tally.usage).toBe(usage);
  });

  test('chunks without choices or delta, null entries and non-text fields count nothing, and throw nothing', () => {
    const tally = new ChatStreamTally('o200k_base');
    for (const chunk of [
      {},
      { choices: {} },
      { choices: [null, {}, { delta: null }, { delta: 'text' }] },
      { choices: [{ delta: { content: 42, refusal: null, reasoning_content: '', tool_calls: {} } }] },
      { choices: [{ delta: { tool_calls: [null, {}, { function: { name: 7, arguments: null } }] } }] },
    ])
      tally.observe(chunk);
    expect(tally.output).toBe(0);
    expect(tally.usage).toBeUndefined();
  });

  test('a choice with no delta does not stop the choices after it from counting', () => {
    const tally = new ChatStreamTally('o200k_base');
    tally.observe({ choices: [{ delta: null }, { delta: { tool_calls: 'none' } }, { delta: { content: 'still counted' } }] });
    expect(tally.output).toBe(count('still counted'));
  });
});

describe('ResponsesStreamTally', () => {
  const DELTA_EVENTS = [
    'response.output_text.delta',
    'response.refusal.delta',
    'response.function_call_arguments.delta',
    'response.reasoning_text.delta',
    'response.reasoning_summary_text.delta',
  ];

  test.each(DELTA_EVENTS)('counts the delta of %s', (type) => {
    const tally = freshResponsesTally();
    tally.observe({ type, delta: 'some generated text' });
    tally.observe({ type, delta: 'more' });
    expect(tally.output).toBe(count('some generated text') + count('more'));
  });

  test("counts a function call's name when its item is added, and nothing for an item without one", () => {
    const tally = new ResponsesStreamTally('o200k_base');
    tally.observe({ type: 'response.output_item.added', item: { type: 'function_call', name: 'get_weather' } });
    tally.observe({ type: 'response.output_item.added', item: null });
    tally.observe({ type: 'response.output_item.added', item: { type: 'message' } });
    expect(tally.output).toBe(count('get_weather'));
  });

  test.each(['response.completed', 'response.incomplete', 'response.failed'])(
    'keeps the usage of %s, and only an object as usage',
    (type) => {
      const tally = freshResponsesTally();
      tally.observe({ type, response: { usage: null } });
      expect(tally.usage).toBeUndefined();
      tally.observe({ type, response: { usage } });
      tally.observe({ type, response: null });
      tally.observe({ type, response: { usage: 'none' } });
      expect(tally.usage).toBe(usage);
      expect(tally.output).toBe(0);
    },
  );

  test('other events, and events of no string type, count nothing and keep no usage', () => {
    const tally = new ResponsesStreamTally('o200k_base');
    for (const event of [
      undefined,
      null,
      {},
      { type: 7, delta: 'text' },
      { type: 'response.created', delta: 'text', response: { usage } },
      { type: 'response.output_text.done', delta: 'text', item: { name: 'name' } },
      { type: 'response.output_text.delta', delta: 42 },
      { type: 'response.output_text.delta', delta: '' },
    ])
      tally.observe(event);
    expect(tally.output).toBe(0);
    expect(tally.usage).toBeUndefined();
  });

  test('a delta event carries no usage, and a final event counts no delta', () => {
    const tally = new ResponsesStreamTally('o200k_base');
    tally.observe({ type: 'response.output_text.delta', delta: 'text', response: { usage } });
    expect(tally.usage).toBeUndefined();
    tally.observe({ type: 'response.completed', delta: 'ignored', item: { name: 'ignored' }, response: { usage } });
    expect(tally.output).toBe(count('text'));
    expect(tally.usage).toBe(usage);
  });
});

test('each tally keeps the model its stream says answered', () => {
  const chat = new ChatStreamTally('o200k_base');
  chat.observe({ choices: [] });
  expect(chat.model).toBeUndefined();
  chat.observe({ model: 'gpt-4o-2024-08-06', choices: [{ delta: { content: 'hi' } }] });
  chat.observe({ model: 7, choices: [] });
  expect(chat.model).toBe('gpt-4o-2024-08-06');
  const responses = new ResponsesStreamTally('o200k_base');
  responses.observe({ type: 'response.output_text.delta', delta: 'hi' });
  expect(responses.model).toBeUndefined();
  responses.observe({ type: 'response.created', response: { model: 'gpt-4o-2024-08-06' } });
  responses.observe({ type: 'response.output_text.delta', delta: 'hi', response: null });
  expect(responses.model).toBe('gpt-4o-2024-08-06');
});
