// Remembered text counts: a resent text is not encoded again, and every answer is the one a fresh count gives.
import { randomUUID } from 'node:crypto';
import { countChatTokens } from '../../lib/tokens/chat';
import { getEncoder } from '../../lib/tokens/encoder';
import type { ChatMessage } from '../../lib/messages';

const o200k = getEncoder('o200k_base');
const cl100k = getEncoder('cl100k_base');
/** A text no other test has counted (the counts are remembered for the whole process). */
const freshText = (words = 60) => `${randomUUID()} ` + 'the quick brown fox jumps over the lazy dog. '.repeat(words / 10);
const user = (content: string): ChatMessage[] => [{ role: 'user', content }];
/** What the prompt `[user: text]` counts, from the encoder itself: priming, framing, role, text. */
const promptOf = (text: string) => 3 + 3 + o200k.count('user') + o200k.count(text);

/** Texts handed to the o200k encoder while `work` runs. */
function encodedDuring(work: () => void): string[] {
  const spy = jest.spyOn(o200k, 'startCount');
  try {
    work();
    return spy.mock.calls.map(([text]) => text);
  } finally {
    spy.mockRestore();
  }
}

describe('remembered text counts', () => {
  it('encodes a resent text once, and answers its exact count every time', () => {
    const text = freshText();
    const first = encodedDuring(() => expect(countChatTokens(user(text), { model: 'gpt-4o' })).toBe(promptOf(text)));
    const again = encodedDuring(() => expect(countChatTokens(user(text), { model: 'gpt-4o' })).toBe(promptOf(text)));
    expect(first).toContain(text);
    expect(again).not.toContain(text);
  });

  it('answers a remembered text under any limit as a fresh count does', () => {
    const text = freshText();
    const exact = promptOf(text);
    countChatTokens(user(text), { model: 'gpt-4o' });
    const fixed = exact - o200k.count(text);
    for (const limit of [0, 1, fixed, fixed + 1, exact - 1, exact, exact + 1, 10 * exact]) {
      // Uncounted, the encoder stops at what is left and answers one more than that.
      const fresh = fixed + o200k.countUpTo(text, Math.max(0, limit - fixed));
      const answer = countChatTokens(user(text), { model: 'gpt-4o', limit });
      if (limit < fixed) expect(answer).toBeGreaterThan(limit);
      else expect(answer).toBe(fresh);
      if (limit >= exact) expect(answer).toBe(exact);
    }
  });

  it('does not remember a count that stopped at its limit', () => {
    const text = freshText();
    expect(countChatTokens(user(text), { model: 'gpt-4o', limit: 20 })).toBeGreaterThan(20);
    const later = encodedDuring(() => expect(countChatTokens(user(text), { model: 'gpt-4o' })).toBe(promptOf(text)));
    expect(later).toContain(text);
  });

  it('keeps the encodings apart', () => {
    const text = `${randomUUID()} ` + 'Привет, как дела? Это проверка токенов. '.repeat(4);
    countChatTokens(user(text), { model: 'gpt-4o' });
    const gpt4 = 3 + 3 + cl100k.count('user') + cl100k.count(text);
    expect(countChatTokens(user(text), { model: 'gpt-4' })).toBe(gpt4);
    expect(gpt4).not.toBe(promptOf(text));
  });

  it('forgets the oldest texts once a million characters are remembered, and counts them again right', () => {
    const first = freshText(60);
    countChatTokens(user(first), { model: 'gpt-4o' });
    // 300 texts of ~3,900 characters: more than a million in all.
    for (let i = 0; i < 300; i++) countChatTokens(user(freshText(850)), { model: 'gpt-4o' });
    const recent = freshText(60);
    countChatTokens(user(recent), { model: 'gpt-4o' });
    const again = encodedDuring(() => {
      expect(countChatTokens(user(first), { model: 'gpt-4o' })).toBe(promptOf(first));
      expect(countChatTokens(user(recent), { model: 'gpt-4o' })).toBe(promptOf(recent));
    });
    expect(again).toContain(first);
    expect(again).not.toContain(recent);
  });

  it('counts long texts every time: they are not remembered', () => {
    const text = freshText(1000);
    expect(text.length).toBeGreaterThan(4096);
    countChatTokens(user(text), { model: 'gpt-4o' });
    expect(encodedDuring(() => countChatTokens(user(text), { model: 'gpt-4o' }))).toContain(text);
  });
});
