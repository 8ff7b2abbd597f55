// plainPromptCounter: the prompt counter of a request without tools or prompt parameters, the same as promptCounter's, made once per model.
import type { ChatMessage, ToolDefinition } from '../../lib/messages';
import { countMessageTokens, REPLY_PRIMING_TOKENS } from '../../lib/tokens/chat';
import { lookupModel } from '../../lib/tokens/models';
import { plainPromptCounter, promptCounter } from '../../lib/tokens/prompt';
import { runWhole, WHOLE, type Steps } from '../../lib/tokens/slice';

const gpt4o = lookupModel('gpt-4o')!;
const gpt4 = lookupModel('gpt-4')!;
const tool: ToolDefinition = { type: 'function', function: { name: 'look', description: 'Look closer.' } };
const tokensOf = (counted: number | Steps<number>) => (typeof counted === 'number' ? counted : runWhole(counted));

describe('plainPromptCounter', () => {
  it('answers for a prompt without tools or prompt text: reply priming fixed, messages as countMessageTokens counts them', () => {
    for (const tools of [undefined, []]) {
      const counter = plainPromptCounter(gpt4o, tools, {})!;
      expect(counter.fixed).toBe(REPLY_PRIMING_TOKENS);
      const message: ChatMessage = { role: 'user', name: 'ada', content: 'What is the weather like today?' };
      const exact = countMessageTokens(message, gpt4o);
      expect(tokensOf(counter.message(message, Infinity, WHOLE))).toBe(exact);
      expect(tokensOf(counter.message(message, exact, WHOLE))).toBe(exact);
      expect(tokensOf(counter.message(message, 2, WHOLE))).toBeGreaterThan(2);
    }
  });

  it("counts with its own model's encoding and framing", () => {
    const message: ChatMessage = { role: 'user', content: 'Привет, как дела? Это проверка токенов.' };
    const counted = tokensOf(plainPromptCounter(gpt4, undefined, {})!.message(message, Infinity, WHOLE));
    expect(counted).toBe(countMessageTokens(message, gpt4));
    expect(counted).not.toBe(countMessageTokens(message, gpt4o));
  });

  it('gives the fixed part and message counts promptCounter gives for the same prompt', () => {
    const params = { temperature: 0.2, tool_choice: 'auto', response_format: null, text: 'plain' };
    const plain = plainPromptCounter(gpt4o, undefined, params)!;
    const counted = runWhole(promptCounter(gpt4o, undefined, params, Infinity, WHOLE));
    expect(plain.fixed).toBe(counted.fixed);
    const message: ChatMessage = { role: 'assistant', content: 'It is sunny.' };
    expect(tokensOf(plain.message(message, Infinity, WHOLE))).toBe(tokensOf(counted.message(message, Infinity, WHOLE)));
  });

  it('is made once per model, not per request', () => {
    expect(plainPromptCounter(gpt4o, undefined, {})).toBe(plainPromptCounter(gpt4o, [], { tool_choice: 'none' }));
    expect(plainPromptCounter(gpt4, undefined, {})).not.toBe(plainPromptCounter(gpt4o, undefined, {}));
  });

  it('leaves a prompt with tools, or with a response format, a text format or a named tool choice, to promptCounter', () => {
    expect(plainPromptCounter(gpt4o, [tool], {})).toBeUndefined();
    const schema = { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } };
    expect(plainPromptCounter(gpt4o, undefined, { response_format: schema })).toBeUndefined();
    expect(plainPromptCounter(gpt4o, undefined, { text: { format: { type: 'json_object' } } })).toBeUndefined();
    expect(
      plainPromptCounter(gpt4o, undefined, { tool_choice: { type: 'function', function: { name: 'look' } } }),
    ).toBeUndefined();
    // The last of the three alone, after two that are no prompt text.
    expect(plainPromptCounter(gpt4o, undefined, { response_format: null, text: 'x', tool_choice: {} })).toBeUndefined();
  });

  it('answers when those parameters are keywords, null or absent, whatever other parameters say', () => {
    for (const params of [
      {},
      { tool_choice: 'required' },
      { response_format: null, text: undefined, tool_choice: 'auto' },
      { temperature: { x: 1 }, tools: [tool], messages: [{ role: 'user' }] },
    ]) {
      expect([params, plainPromptCounter(gpt4o, undefined, params)?.fixed]).toEqual([params, REPLY_PRIMING_TOKENS]);
    }
  });
});
