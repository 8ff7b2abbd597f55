// One message's tokens: the same alone as in a prompt, exact up to a limit at its very edges, counted at once or as work, and remembered texts.
import { randomUUID } from 'node:crypto';
import type { ChatMessage } from '../../lib/messages';
import type * as Chat from '../../lib/tokens/chat';
import { countChatTokens, countMessageTokens, messageTokenSteps, REPLY_PRIMING_TOKENS } from '../../lib/tokens/chat';
import type * as Encoders from '../../lib/tokens/encoder';
import * as Encoder from '../../lib/tokens/encoder';
import * as Images from '../../lib/tokens/images';
import * as Models from '../../lib/tokens/models';
import * as SliceModule from '../../lib/tokens/slice';
import * as Tools from '../../lib/tokens/tools';
import { getEncoder } from '../../lib/tokens/encoder';
import { lookupModel } from '../../lib/tokens/models';
import type { Slice, Steps } from '../../lib/tokens/slice';
import { loadAnew } from '../helpers/load-anew';
import { cjkRun } from './corpus';

const gpt4o = lookupModel('gpt-4o')!;
const o200k = getEncoder('o200k_base');
/** A slice that is never due, but is not WHOLE: long pieces are merged as work. */
const NEVER_DUE: Slice = { due: () => false };
const ALWAYS_DUE: Slice = { due: () => true };

/** The count of `steps`, and how many times it yielded on the way. */
function runCounting(steps: number | Steps<number>): { count: number; yields: number } {
  if (typeof steps === 'number') return { count: steps, yields: 0 };
  let yields = 0;
  let step = steps.next();
  while (!step.done) {
    yields++;
    step = steps.next();
  }
  return { count: step.value, yields };
}

/** Texts handed to `encoder` while `work` runs. */
function encodedDuring(encoder: Encoders.Encoder, work: () => void): string[] {
  const spy = jest.spyOn(encoder, 'startCount');
  try {
    work();
    return spy.mock.calls.map(([text]) => text);
  } finally {
    spy.mockRestore();
  }
}

describe('countChatTokens: the limit', () => {
  it('must be a number ≥ 0, or left out', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    for (const limit of [-1, Number.NaN, '5', null]) {
      expect(() => countChatTokens(messages, { model: 'gpt-4o', limit: limit as number })).toThrow(
        new TypeError(`countChatTokens: limit must be a number ≥ 0 (or left out); got ${String(limit)}.`),
      );
    }
    const exact = countChatTokens(messages, { model: 'gpt-4o' });
    expect(countChatTokens(messages, { model: 'gpt-4o', limit: undefined })).toBe(exact);
    expect(countChatTokens(messages, { model: 'gpt-4o', limit: 0 })).toBeGreaterThan(0);
  });
});

describe('countMessageTokens', () => {
  const call = { id: 'call_7', type: 'function' as const, function: { name: 'look', arguments: '{"zoom":2}' } };

  it.each<[string, ChatMessage]>([
    ['a role and a text', { role: 'user', content: 'What is the weather like today?' }],
    [
      'text parts',
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is' },
          { type: 'text', text: ' on this picture?' },
        ],
      },
    ],
    ['no content', { role: 'assistant', content: null }],
    ['a text and tool calls', { role: 'assistant', content: 'Let me look.', tool_calls: [call] }],
    ['tool calls and no text', { role: 'assistant', content: null, tool_calls: [call] }],
    ['a tool result', { role: 'tool', content: 'A cat.', tool_call_id: 'call_7' }],
    ['a name', { role: 'user', content: 'Hello.', name: 'ada' }],
  ])('of %s is what it adds to a prompt', (_, message) => {
    const inPrompt = countChatTokens([message], { model: 'gpt-4o' }) - REPLY_PRIMING_TOKENS;
    expect(countMessageTokens(message, gpt4o)).toBe(inPrompt);
    expect(runCounting(messageTokenSteps(message, gpt4o, undefined, NEVER_DUE)).count).toBe(inPrompt);
    expect(countMessageTokens(message, gpt4o, inPrompt)).toBe(inPrompt);
    expect(countMessageTokens(message, gpt4o, inPrompt - 1)).toBeGreaterThan(inPrompt - 1);
  });

  it('is above a limit that the framing, or the framing and the role, just reach', () => {
    const message: ChatMessage = { role: 'user', content: 'hi' };
    const framing = gpt4o.tokensPerMessage;
    const role = o200k.count('user');
    for (const limit of [0, framing - 1, framing, framing + role]) {
      expect([limit, countMessageTokens(message, gpt4o, limit)]).toEqual([limit, expect.any(Number)]);
      expect(countMessageTokens(message, gpt4o, limit)).toBeGreaterThan(limit);
    }
    const exact = framing + role + o200k.count('hi');
    expect(countMessageTokens(message, gpt4o, exact)).toBe(exact);
    // An empty text adds nothing: the framing and the role are the count.
    expect(countMessageTokens({ role: 'user', content: '' }, gpt4o, framing + role)).toBe(framing + role);
  });
});

describe('messageTokenSteps', () => {
  const message: ChatMessage = { role: 'user', content: 'What is the weather like today?' };

  it('counts a role and a text at once, but leaves them as work when the slice is due after the role', () => {
    expect(messageTokenSteps(message, gpt4o, undefined, NEVER_DUE)).toBe(countMessageTokens(message, gpt4o));
    const work = messageTokenSteps(message, gpt4o, undefined, ALWAYS_DUE);
    expect(typeof work).toBe('object');
    expect(runCounting(work)).toEqual({ count: countMessageTokens(message, gpt4o), yields: 2 });
  });

  it('yields only when the slice is due', () => {
    const named: ChatMessage = { role: 'user', name: 'ada', content: 'Hello there.' };
    expect(runCounting(messageTokenSteps(named, gpt4o, undefined, NEVER_DUE))).toEqual({
      count: countMessageTokens(named, gpt4o),
      yields: 0,
    });
  });
});

describe('texts counted as work (a long piece), remembered', () => {
  /** A text of under 4,096 characters with one piece of over 4,096 bytes: merged as work in a slice that is not WHOLE. */
  const longPieceText = () => `${randomUUID()} ${cjkRun(1_800, 41)}`;
  const user = (content: string): ChatMessage => ({ role: 'user', content });

  it('a count stopped at its limit is not remembered as the count', () => {
    const text = longPieceText();
    const exact = countMessageTokens(user(text), gpt4o);
    // The first count stops early, inside the long piece; the second, without a limit, must still be exact.
    const other = longPieceText();
    const stopped = runCounting(messageTokenSteps(user(other), gpt4o, 40, NEVER_DUE)).count;
    expect(stopped).toBe(41);
    expect(countMessageTokens(user(other), gpt4o)).toBe(3 + o200k.count('user') + o200k.count(other));
    expect(exact).toBe(3 + o200k.count('user') + o200k.count(text));
  });

  it('a count that finished, even exactly at its limit, is remembered', () => {
    for (const limit of [undefined, 'exact'] as const) {
      const text = longPieceText();
      const exact = 3 + o200k.count('user') + o200k.count(text);
      expect(runCounting(messageTokenSteps(user(text), gpt4o, limit === 'exact' ? exact : undefined, NEVER_DUE)).count).toBe(
        exact,
      );
      expect(encodedDuring(o200k, () => expect(countMessageTokens(user(text), gpt4o)).toBe(exact))).not.toContain(text);
    }
  });

  it('a text counted at once exactly at its limit is remembered', () => {
    const text = `${randomUUID()} the quick brown fox jumps over the lazy dog`;
    const exact = 3 + o200k.count('user') + o200k.count(text);
    expect(countMessageTokens(user(text), gpt4o, exact)).toBe(exact);
    expect(encodedDuring(o200k, () => expect(countMessageTokens(user(text), gpt4o)).toBe(exact))).not.toContain(text);
  });
});

describe('remembered texts, from an empty memory (a module of its own)', () => {
  const MILLION = 1 << 20;
  const prose = 'the quick brown fox jumps over the lazy dog. '.repeat(100);
  /** A text of `chars` characters (at least 13), unlike any other. */
  const textOf = (chars: number) => {
    const head = `${randomUUID().slice(0, 12)} `;
    return head + prose.slice(0, chars - head.length);
  };
  /**
   * chat alone loaded anew (an empty memory of texts), on this file's models, encoders, images and tools: their
   * tables are not built again, so that a mutation run does not take them for tested here.
   */
  const loadChat = () =>
    loadAnew(() => {
      const shared = { models: Models, encoder: Encoder, images: Images, tools: Tools, slice: SliceModule };
      for (const [name, module] of Object.entries(shared)) jest.doMock(`../../lib/tokens/${name}`, () => module);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { chat: require('../../lib/tokens/chat') as typeof Chat, encoder: o200k };
    });

  it('keeps texts of 32 to 4,096 characters in two generations of 524,288 characters, and drops the older whole', () => {
    const { chat, encoder } = loadChat();
    const count = (text: string) => chat.countChatTokens([{ role: 'user', content: text }], { model: 'gpt-4o' });
    /** 128 texts of 4,096 characters: exactly a generation. */
    const generation = () => Array.from({ length: MILLION / 2 / 4_096 }, () => textOf(4_096));
    const first = generation();
    first.forEach(count);
    // A full generation: all of it kept, each counted again without encoding it.
    expect(encodedDuring(encoder, () => first.forEach(count))).toEqual(first.map(() => 'user'));
    // One text more begins a new generation; the first is the older one, still kept, and a text resent moves to the new.
    count(textOf(32));
    expect(encodedDuring(encoder, () => count(first[0]!))).toEqual(['user']);
    // 127 texts fill the new generation (with first[0]); one more begins another, and the first is dropped but for first[0].
    const second = generation().slice(1);
    second.forEach(count);
    count(textOf(32));
    expect(encodedDuring(encoder, () => count(first[1]!))).toContain(first[1]);
    expect(encodedDuring(encoder, () => [first[0]!, second[0]!].forEach(count))).toEqual(['user', 'user']);
  });

  it('does not remember texts shorter than 32 or longer than 4,096 characters', () => {
    const { chat, encoder } = loadChat();
    const count = (text: string) => chat.countChatTokens([{ role: 'user', content: text }], { model: 'gpt-4o' });
    const texts = [textOf(31), textOf(4_097)];
    texts.forEach(count);
    expect(encodedDuring(encoder, () => texts.forEach(count))).toEqual(['user', texts[0], 'user', texts[1]]);
    // The module loaded anew counts as the one every other test uses.
    expect(count(texts[0]!)).toBe(countChatTokens([{ role: 'user', content: texts[0]! }], { model: 'gpt-4o' }));
    const call: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{}' } }],
    };
    expect(chat.countMessageTokens(call, gpt4o)).toBe(countMessageTokens(call, gpt4o));
  });
});
