// Deterministic texts for the tokenizer tests and bench: edge cases, real and synthetic prose, code, hostile runs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** mulberry32: a small seeded PRNG, so every run draws the same texts. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Texts where tokenizers tend to disagree: each pre-tokenizer rule, UTF-8 corner and special-token lookalike. */
export const EDGE_CASES: Record<string, string> = {
  empty: '',
  prose: 'The quick brown fox jumps over the lazy dog. It wasn\'t, as they say, "the end" — merely a pause…',
  code: 'export function add(a: number, b: number): number {\n\treturn a + b; // sum\n}\n\nconst x = add(1, 2);\n',
  json: '{"id":12345,"name":"Zoë","tags":["a","b"],"nested":{"ok":true,"ratio":0.75,"none":null}}',
  cjk: '日本語のテキストと中文文本，한국어 텍스트。東京は晴れです！',
  emoji: '👋🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 heart ❤️ 🏳️‍🌈 thumbs 👍🏿👍🏻 😀😀😀',
  combiningMarks: 'e\u0301 a\u0308\u0304 Z\u0351\u0353\u0354a\u036a\u0364 ก\u0e33 क\u094d\u0937 \u0301\u0301 lead',
  loneSurrogates: 'high \ud800 low \udc00 reversed \udc00\ud800 end\ud83d',
  lineSeparators: 'one\u2028two\u2029three\u0085four\r\nfive\rsix\n\n\nseven',
  whitespaceRuns: '   \t\t  word    \n\n   \t x  \n  \r\n   \u00a0\u3000 y' + ' '.repeat(40) + 'z' + '\n'.repeat(9),
  spacesBeforeDigits: 'a  1 b   22 c    333 d 4444 55555    666666\t7\n  8 ١٢٣ 12.5 1,000,000',
  specialTokensInText:
    'before <|endoftext|> middle <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|> <|endofprompt|>after<|endoftext|>',
  contractions: "it's IT'S we'll WE'LL they're THEY'RE I'd I'D you've YOU'VE I'm I'M don't DON'T 's 'LL 'lL x'Re",
  mixedCase: 'HTTPServerError parseXMLDocument iPhone McDonald ALLCAPS lowercase MiXeD CaSe ΣΊΣΥΦΟΣ straße İstanbul',
  punctuation: '!!!??? ... --- /// \\\\ *** //\n/* */ ###\n\n@@ -1,2 +1,3 @@ <<<>>> ::: ;;;\r\n// @ts-ignore',
  numbers: '0 00 000 0000 12345678901234567890 3.14159 -42 1e10 ⅫⅩ ²³ ½ 𝟙𝟚𝟛 ٠١٢٣٤٥٦٧٨٩',
  urlsAndBase64: 'https://example.com/a/b?c=d&e=f#g SGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0Lg== 0x1F2E3D',
};

/** Building blocks of random hostile strings: each piece rule, case, script, joiner and surrogate. */
const HOSTILE_ALPHABET = [
  'a',
  'b',
  'z',
  'A',
  'Z',
  'é',
  'ß',
  'İ',
  'Σ',
  'ς',
  'я',
  ' ',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\u00a0',
  '\u3000',
  '\u2028',
  "'",
  "'s",
  "'LL",
  "'re",
  '1',
  '22',
  '٣',
  '½',
  '.',
  ',',
  '/',
  '_',
  '-',
  '"',
  '<|endoftext|>',
  '<|',
  '|>',
  '漢',
  '字',
  'が',
  'ア',
  '한',
  '😀',
  '👍',
  '🏽',
  '\u200d',
  '\ufe0f',
  '\u0301',
  '\u0e33',
  '\ud800',
  '\udc00',
  '\ud83d',
  'aaaaaaaaaaaaaaaa',
  '                ',
  'ababababab',
  '0000000',
];

/** A random string of up to `maxParts` draws from the hostile alphabet. */
export function hostileString(random: () => number, maxParts: number): string {
  let text = '';
  const parts = Math.floor(random() * (maxParts + 1));
  for (let i = 0; i < parts; i++) text += pick(random, HOSTILE_ALPHABET);
  return text;
}

/** `chars` random lowercase letters: one pre-tokenizer piece. */
export function randomLetters(chars: number, seed: number): string {
  const random = seededRandom(seed);
  const codes = new Uint16Array(chars);
  for (let i = 0; i < chars; i++) codes[i] = 97 + Math.floor(random() * 26);
  return decodeUtf16(codes);
}

/** `chars` random common CJK ideographs without punctuation: one pre-tokenizer piece. */
export function cjkRun(chars: number, seed: number): string {
  const random = seededRandom(seed);
  const codes = new Uint16Array(chars);
  for (let i = 0; i < chars; i++) codes[i] = 0x4e00 + Math.floor(random() * 3000);
  return decodeUtf16(codes);
}

function decodeUtf16(codes: Uint16Array): string {
  let text = '';
  for (let i = 0; i < codes.length; i += 8192) text += String.fromCharCode(...codes.subarray(i, i + 8192));
  return text;
}

const CJK_WORDS = [
  '東京',
  '日本語',
  '中文',
  '天気',
  'です',
  'ました',
  'の',
  'は',
  'が',
  '学生',
  '電車',
  '人工知能',
  '모델',
  '사랑',
];
const EMOJI = ['😀', '🚀', '👍🏽', '👨‍👩‍👧', '🇯🇵', '❤️', '🏳️‍🌈', '✨'];
const CJK_PUNCTUATION = ['。', '、', '！', '？', '「', '」', ' ', '\n'];

/** About `chars` UTF-16 units of CJK sentences with emoji, the way chat messages mix them. */
export function cjkWithEmoji(chars: number, seed: number): string {
  const random = seededRandom(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const roll = random();
    const part = pick(random, roll < 0.75 ? CJK_WORDS : roll < 0.88 ? EMOJI : CJK_PUNCTUATION);
    parts.push(part);
    length += part.length;
  }
  return parts.join('');
}

const NODE_MODULES = join(__dirname, '..', '..', 'node_modules');

/** The first `chars` UTF-16 units of the installed packages' READMEs, in name order: real English prose and markdown. */
export function readmeProse(chars: number): string {
  const scoped = readdirSync(NODE_MODULES)
    .filter((name) => name.startsWith('@'))
    .flatMap((scope) => readdirSync(join(NODE_MODULES, scope)).map((name) => `${scope}/${name}`));
  const packages = [...readdirSync(NODE_MODULES).filter((name) => !name.startsWith('@') && !name.startsWith('.')), ...scoped];
  return concatFiles(
    packages.sort().map((name) => join(NODE_MODULES, name, 'README.md')),
    chars,
  );
}

/** The first `chars` UTF-16 units of TypeScript's lib .d.ts files, in name order: real code with doc comments. */
export function typescriptLibCode(chars: number): string {
  const lib = join(NODE_MODULES, 'typescript', 'lib');
  const files = readdirSync(lib)
    .filter((name) => /^lib\..*\.d\.ts$/.test(name))
    .sort();
  return concatFiles(
    files.map((name) => join(lib, name)),
    chars,
  );
}

function concatFiles(paths: string[], chars: number): string {
  let text = '';
  for (const path of paths) {
    if (text.length >= chars) break;
    try {
      text += readFileSync(path, 'utf8');
    } catch {
      // Not every package ships a README.
    }
  }
  if (text.length < chars) throw new Error(`only ${text.length} characters found, ${chars} wanted`);
  return text.slice(0, chars);
}

// The oracle corpus: strings drawn from parts that exercise each rule of tiktoken's patterns and
// each edge of its Unicode tables, compared token for token with the `tiktoken` package.

/** Every White_Space code point, and the look-alikes that are not (U+FEFF, U+180E, U+200B, U+001C–U+001F). */
const SPACES = [
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\n\n',
  '\u000b',
  '\u000c',
  '\u0085',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2005',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
  ' \ufeff',
  '\ufeff ',
  '\u0085 ',
  ' \u0085',
  '\t\ufeff',
  '\u180e',
  '\u200b',
  '\u001c',
  '\u001f',
];
/** Contractions in every case, with ſ (which folds to s) and the Kelvin sign, and the curly quotes that are not apostrophes. */
const CONTRACTIONS = [
  "'s",
  "'S",
  "'\u017f",
  "'t",
  "'T",
  "'re",
  "'rE",
  "'Re",
  "'RE",
  "'ve",
  "'vE",
  "'VE",
  "'m",
  "'M",
  "'ll",
  "'lL",
  "'Ll",
  "'LL",
  "'d",
  "'D",
  "'",
  "''",
  "'r",
  "'v",
  "'l",
  "'x",
  "'k",
  "'\u212a",
  "'\u017f\u017f",
  "'\u017ft",
  '\u2019s',
  '\u2019',
  '\u2018',
  '\u2019re',
  '\u02bcs',
];
const WORDS = [
  'the',
  'The',
  'THE',
  'hello',
  'World',
  'iPhone',
  'HTTPServer',
  'I',
  'a',
  'x',
  'don',
  'straße',
  'ΣΊΣΥΦΟΣ',
  'ς',
  '\u01c5emal',
  '\u01c5',
  '\u02b0a',
  '\u02b0',
  'İstanbul',
  'é',
  'e\u0301',
  '\u0301',
  'A\u0301B',
  '\u0301a',
  'ק',
  'ملك',
  'देवा',
  'ก\u0e33',
  'Ⓐ',
  'ǈ',
  'ᾈ',
  'ﬀ',
  'ﬁ',
  'Ω',
  'K',
  '\u017f',
];
const NUMBERS = ['0', '1', '12', '123', '1234', '٣', '١٢٣٤', '½', '²', 'Ⅻ', '𝟙𝟚', '〇', '𐍁', '3.14', '1,000'];
const SYMBOLS = [
  '.',
  ',',
  '!',
  '?',
  '/',
  '//',
  '-',
  '_',
  '*',
  '=',
  '-*=',
  '"',
  '(',
  ')',
  '{}',
  '…',
  '—',
  '「',
  '。',
  '€',
  '😀',
  '👍🏽',
  '👨‍👩‍👧',
  '\u200d',
  '\ufe0f',
  '\u00ad',
  '<|endoftext|>',
  '<|',
  '|>',
  '\u0000',
  '\u007f',
  '\ufffd',
  '\uffff',
];
const SCRIPTS = ['漢字', '日本語', 'テキスト', '한국어', '中文文本', 'ภาษาไทย', 'русский', 'עברית', 'العربية', '𠀋𡈽', '𝐀𝐁'];
/** Letters of scripts new in Unicode 15 and 16 (letters to tiktoken) and 17 (unassigned to it). */
const NEW_LETTERS = [0x11f04, 0x1e4d0, 0x31350, 0x2ebf0, 0x10d50, 0x16100, 0x105c0, 0x1e5d0, 0x10940, 0x16ea0, 0x323b0, 0x1e6c0];
/** Runs that make one long piece each. */
const RUN_UNITS = [
  'a',
  'ab',
  'Z',
  ' ',
  '\t',
  ' \t',
  ' \t\ufeff',
  '\u0085',
  '1',
  '漢',
  '-*=',
  'x\u0301',
  '\u0301',
  '😀',
  '\r\n',
  '.',
];

/** The boundaries of every range in the Unicode tables: where a wrong table would show. */
export function tableEdges(tables: ReadonlyArray<readonly number[]>): number[] {
  const edges = new Set<number>();
  for (const table of tables) {
    for (const code of table) for (const near of [code - 1, code, code + 1]) if (near >= 0 && near <= 0x10ffff) edges.add(near);
  }
  return [...edges];
}

/** A code point as a string; a surrogate's stays a lone surrogate. */
const fromCode = (code: number) => (code >= 0xd800 && code < 0xe000 ? String.fromCharCode(code) : String.fromCodePoint(code));

/**
 * A generator of seeded strings for the oracle test: `edges` are code points worth
 * trying (the Unicode tables' range ends). Each string is 1–24 parts: words, spaces,
 * contractions, numbers, symbols, scripts, any code point of any plane (lone
 * surrogates included), table edges, and now and then a run of up to 500 units (one long piece).
 */
export function oracleStrings(seed: number, edges: readonly number[]): () => string {
  const random = seededRandom(seed);
  const part = (): string => {
    const roll = random();
    if (roll < 0.16) return pick(random, WORDS);
    if (roll < 0.32) return pick(random, SPACES);
    if (roll < 0.42) return pick(random, CONTRACTIONS);
    if (roll < 0.5) return pick(random, NUMBERS);
    if (roll < 0.6) return pick(random, SYMBOLS);
    if (roll < 0.66) return pick(random, SCRIPTS);
    if (roll < 0.74) return fromCode(Math.floor(random() * 0x110000));
    if (roll < 0.76) return fromCode(0xd800 + Math.floor(random() * 0x800));
    if (roll < 0.78) return fromCode(pick(random, NEW_LETTERS));
    if (roll < 0.99) return fromCode(pick(random, edges));
    return pick(random, RUN_UNITS).repeat(1 + Math.floor(random() ** 4 * 500));
  };
  return () => {
    let text = '';
    const parts = 1 + Math.floor(random() * 24);
    for (let i = 0; i < parts; i++) text += part();
    return text;
  };
}

/** A request body that once held the event loop for hundreds of ms, and the feature it is sent to. */
export interface HostileBody {
  name: string;
  model: string;
  maxInput: number;
  onExceed: 'reject' | 'truncate';
  /** The one user message's content. */
  content: () => string;
}

const KB = 1024;

/** One pre-tokenizer piece each, up to the 1 MB body limit, at budgets up to the model's context window. */
export const HOSTILE_BODIES: HostileBody[] = [
  // 400 KB passes the cheap lower bound at 4,000 tokens (o200k: 3,125 and 3,604), so it must be merged.
  {
    name: '400 KB of spaces and tabs, maxInput 4,000',
    model: 'gpt-4o',
    maxInput: 4_000,
    onExceed: 'reject',
    content: () => ' \t'.repeat(200 * KB),
  },
  {
    name: '400 KB of spaces and tabs, truncate',
    model: 'gpt-4o',
    maxInput: 4_000,
    onExceed: 'truncate',
    content: () => ' \t'.repeat(200 * KB),
  },
  {
    name: '400 KB of -*=, maxInput 4,000',
    model: 'gpt-4o',
    maxInput: 4_000,
    onExceed: 'reject',
    content: () => '-*='.repeat((400 * KB) / 3),
  },
  {
    name: '650 KB of -*=, truncate',
    model: 'gpt-4o',
    maxInput: 4_000,
    onExceed: 'truncate',
    content: () => '-*='.repeat((650 * KB) / 3),
  },
  {
    name: '1 MB random a–z, maxInput 200,000',
    model: 'gpt-4.1',
    maxInput: 200_000,
    onExceed: 'reject',
    content: () => randomLetters(1000 * KB, 21),
  },
  {
    name: '1 MB random a–z, truncate at 200,000',
    model: 'gpt-4.1',
    maxInput: 200_000,
    onExceed: 'truncate',
    content: () => randomLetters(1000 * KB, 22),
  },
  {
    name: '1 MB random a–z, maxInput 1,000,000 (counted whole)',
    model: 'gpt-4.1',
    maxInput: 1_000_000,
    onExceed: 'reject',
    content: () => randomLetters(1000 * KB, 23),
  },
  {
    name: '1 MB unpunctuated CJK, maxInput 120,000',
    model: 'gpt-4o',
    maxInput: 120_000,
    onExceed: 'reject',
    content: () => cjkRun(330 * KB, 24),
  },
];
