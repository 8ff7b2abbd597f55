// The encoder and its pre-tokenizer against tiktoken on short texts, in seconds: pieces, UTF-8, caches, early exits and slices.
import { getEncoder } from '../../lib/tokens/encoder';
import type { EncodingName } from '../../lib/tokens/models';
import { runSliced, runWhole, WHOLE, type Slice } from '../../lib/tokens/slice';
import { LETTER, LOWER_LIKE, NUMBER, UPPER_LIKE, WHITE_SPACE } from '../../lib/tokens/unicode-tables';
import { cjkRun, EDGE_CASES, oracleStrings, randomLetters, seededRandom, tableEdges } from './corpus';
import { tiktokenFor } from './tiktoken';

/** Generated strings per encoding: enough to reach every branch of the pre-tokenizer, few enough for a mutation run. */
const GENERATED = 1_500;

const EDGES = tableEdges([LETTER, NUMBER, WHITE_SPACE, UPPER_LIKE, LOWER_LIKE]);

/** A slice that is always due: the work stops at every look at the clock. */
const ALWAYS_DUE: Slice = { due: () => true };

/** Texts whose pieces each reach one branch of the pre-tokenizers. */
const PIECE_CASES = [
  // Contractions, each kind, in both cases, at the end of the text, cut short and folded (ſ, K).
  "'s 't 'm 'd 're 've 'll 'S 'T 'M 'D 'RE 'VE 'LL 'Re 'lL",
  "it's it't I'm I'd you're we've we'll IT'S WE'LL YOU'RE",
  "'r 'v 'l 'x 'rx 'vx 'lx ' '",
  "a'",
  "a'r",
  "a'l",
  "'",
  "x'\u017f x'\u017ft '\u212a 'K 'ſ",
  "don'\ud83d\ude00 can'\u00e9 o'\u0301",
  // Word prefixes: punctuation, a space, a digit, a line break, a mark before letters.
  ' hello .hello -Hello 1hello \nhello \rhello \u0301hello',
  '!Abc ?ABC ~aBC ,Ab.cD',
  // Upper and lower runs, marks, titlecase, modifier letters, CJK (Lo), astral letters.
  'HTTPServer XMLHttpRequest ABCdef AbcDEF aBcDeF \u01c5ab \u02b0ab ab\u0301cd A\u0301BC',
  '\ud835\udc00\ud835\udc01bc \ud835\udc1a\ud835\udc1b \ud801\udc00\ud801\udc28 \ud840\udc00\ud840\udc01',
  "ABC ABC's ABc'LL Abc'd aBC've",
  // Numbers: 1 to 7 digits, other scripts, astral digits, digits between letters.
  '1 12 123 1234 12345 123456 1234567 \u0661\u0662\u0663\u0664 \ud835\udfd9\ud835\udfda\ud835\udfdb\ud835\udfdc a1b22c333d4444',
  // Punctuation runs, with a space before, line breaks and slashes after.
  '!!! ... a...b .\n.\r\n.\n\n/ ./ .// .\n/ ./\n --- -- - ---\r\n',
  'https://example.com/a/b//c?d=e#f // /* */ ///\n',
  ' \ud83d\ude00\ud83d\ude00 x \u2603\u2603\n\r/y',
  // White space: runs at the end, before a word, with line breaks in and after, other spaces.
  'a  b   c    d\t\te \u00a0f\u3000\u3000g',
  'a \n b\n\n\nc \r\n\r\n d\n  \n  e',
  'end   ',
  'end\n   ',
  '   ',
  ' \n',
  '\u2028\u2029\u0085x \u0085 y',
  // Lone surrogates, at the end, between letters, and a reversed pair; characters of 2, 3 and 4 bytes.
  'a\ud800b \udc00c \udc00\ud800 \ud83d',
  '\u00e9\u00e8\u00ea \u4e2d\u6587 \ud83d\ude00\ud83d\udc4d\ud83c\udffd \u07ff\u0800\uffff\ud7ff\ue000',
  '\ud83d',
  '\ud83d\ud83d\ude00',
  'x\ud83d',
  '\udbff\udfff\ud800\udc00',
];

describe.each<EncodingName>(['o200k_base', 'cl100k_base'])('%s against tiktoken', (name) => {
  const encoder = getEncoder(name);
  const oracle = tiktokenFor(name);

  const expected = (text: string) => Array.from(oracle().encode_ordinary(text));

  /** The same tokens, the same count, and countUpTo's verdict right below, at and above the count. */
  function expectSame(text: string): void {
    const tokens = expected(text);
    expect([text, encoder.encode(text)]).toEqual([text, tokens]);
    expect([text, encoder.count(text)]).toEqual([text, tokens.length]);
    for (const limit of [0, tokens.length - 1, tokens.length, tokens.length + 1]) {
      if (limit < 0) continue;
      const verdict = tokens.length <= limit ? tokens.length : limit + 1;
      expect([text, limit, encoder.countUpTo(text, limit)]).toEqual([text, limit, verdict]);
    }
  }

  test.each(Object.entries(EDGE_CASES))('edge case: %s', (_, text) => {
    expectSame(text);
  });

  test.each(PIECE_CASES.map((text) => [JSON.stringify(text), text]))('pieces of %s', (_, text) => {
    expectSame(text);
    // Each text alone, after a word and before one: a piece at the very start and end of a text too.
    expectSame(`word${text}`);
    expectSame(`${text}word`);
  });

  test(`${GENERATED} generated strings: the same tokens and counts, counted twice (caches warm)`, () => {
    const next = oracleStrings(name === 'o200k_base' ? 7001 : 7002, EDGES);
    const mismatches: string[] = [];
    for (let i = 0; i < GENERATED && mismatches.length < 5; i++) {
      const text = next();
      const tokens = expected(text);
      const ours = encoder.encode(text);
      const same =
        ours.length === tokens.length &&
        ours.every((token, at) => token === tokens[at]) &&
        encoder.count(text) === tokens.length &&
        encoder.count(text) === tokens.length &&
        encoder.countUpTo(text, tokens.length) === tokens.length &&
        (tokens.length === 0 || encoder.countUpTo(text, tokens.length - 1) === tokens.length);
      if (!same) mismatches.push(JSON.stringify(text));
    }
    expect(mismatches).toEqual([]);
  });

  test('long pieces of CJK and letters: counted right, and counted right again from the long-piece cache', () => {
    for (const text of [
      cjkRun(40, 1),
      cjkRun(90, 2),
      randomLetters(60, 3),
      randomLetters(250, 4),
      `${cjkRun(30, 5)} ${cjkRun(30, 6)}`,
    ]) {
      const count = expected(text).length;
      expect([text, encoder.count(text), encoder.count(text), encoder.countUpTo(text, count)]).toEqual([
        text,
        count,
        count,
        count,
      ]);
      expect(encoder.encode(text)).toEqual(expected(text));
    }
  });

  test('a piece of up to 3,000 letters, and one of over 4,096 bytes counted whole: the same tokens', () => {
    for (const text of [randomLetters(3_000, 21), `go ${randomLetters(2_200, 22)}${cjkRun(1_000, 23)} on`]) {
      expectSame(text);
    }
  });

  test('countUpTo refuses a long piece past the limit, and counts the pieces before it exactly', () => {
    const text = `one two three ${randomLetters(2_000, 24)}`;
    const count = expected(text).length;
    for (const limit of [0, 2, 3, 4, 5, 50, count - 1, count]) {
      expect([limit, encoder.countUpTo(text, limit)]).toEqual([limit, count <= limit ? count : limit + 1]);
    }
  });

  test('a text longer than the limit times the longest token is above the limit at once', () => {
    expect(encoder.countUpTo('a'.repeat(10_000), 1)).toBe(2);
    expect(encoder.countUpTo(' '.repeat(1_000), 0)).toBe(1);
    expect(encoder.countUpTo('', 0)).toBe(0);
  });
});

describe('counting in slices (o200k_base)', () => {
  const encoder = getEncoder('o200k_base');
  const oracle = tiktokenFor('o200k_base');

  const exact = (text: string) => oracle().encode_ordinary(text).length;
  const sliced = (text: string, limit: number) => runSliced((slice) => encoder.countUpToSteps(text, limit, slice), 0);

  test('many short pieces, each slice due: the same count and verdicts as at once', async () => {
    const text = EDGE_CASES.prose!.repeat(40);
    const count = exact(text);
    expect(await sliced(text, Infinity)).toBe(count);
    for (const limit of [0, 10, count - 1, count, count + 1]) {
      expect([limit, await sliced(text, limit)]).toEqual([limit, count <= limit ? count : limit + 1]);
    }
  });

  test('a long piece merged in slices, with pieces before and after it, and past a limit', async () => {
    const text = `start, ${randomLetters(5_000, 31)} end.`;
    const count = exact(text);
    for (const limit of [Infinity, count, count - 1, 3, 0]) {
      expect([limit, await sliced(text, limit)]).toEqual([limit, count <= limit ? count : limit + 1]);
    }
    // The scratch that held the long piece served the counts in between.
    const [first, second] = await Promise.all([sliced(text, Infinity), sliced(`other ${randomLetters(5_000, 32)}`, Infinity)]);
    expect([first, second]).toEqual([count, exact(`other ${randomLetters(5_000, 32)}`)]);
  });

  test('a piece longer than the shared scratch holds (over 21,845 units), in slices and at once', async () => {
    const text = `a ${cjkRun(22_000, 33)} b`;
    const count = encoder.encode(text).length;
    expect(Buffer.from(oracle().decode(Uint32Array.from(encoder.encode(text)))).toString()).toBe(text);
    expect(encoder.count(text)).toBe(count);
    expect(await sliced(text, Infinity)).toBe(count);
    expect(await sliced(text, count - 1)).toBe(count);
    expect(await sliced(text, 100)).toBe(101);
  });

  test('startCount answers at once when a text fits its slice, else leaves the count under way for finishCount', () => {
    const text = `${EDGE_CASES.prose} ${randomLetters(5_000, 34)}`;
    const count = exact(text);
    expect(encoder.startCount(EDGE_CASES.prose!, Infinity, WHOLE)).toBe(exact(EDGE_CASES.prose!));
    const started = encoder.startCount(text, Infinity, ALWAYS_DUE);
    expect(typeof started).toBe('object');
    if (typeof started === 'number') return;
    // A count in between does not disturb the one under way.
    expect(encoder.startCount('hello world', Infinity, WHOLE)).toBe(2);
    expect(runWhole(encoder.finishCount(started))).toBe(count);
    const above = encoder.startCount(text, 5, ALWAYS_DUE);
    expect(typeof above === 'number' ? above : runWhole(encoder.finishCount(above))).toBe(6);
  });

  test('countUpToSteps with a slice always due yields and ends with the exact count', () => {
    const text = EDGE_CASES.code!.repeat(200);
    const steps = encoder.countUpToSteps(text, Infinity, ALWAYS_DUE);
    let yields = 0;
    let step = steps.next();
    while (!step.done) {
      yields++;
      step = steps.next();
    }
    expect(step.value).toBe(exact(text));
    expect(yields).toBeGreaterThan(0);
  });

  test('a seeded mix of texts, counted in slices, matches tiktoken', async () => {
    const random = seededRandom(35);
    const parts = Array.from({ length: 30 }, (_, i) =>
      i % 5 === 0 ? randomLetters(100 + Math.floor(random() * 5_000), i) : EDGE_CASES.json!,
    );
    const text = parts.join(' ');
    expect(await sliced(text, Infinity)).toBe(exact(text));
  });
});
