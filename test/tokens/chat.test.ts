// Chat prompt counting: the cookbook's figures, tools, images (tile, patch, headers), early exit, sum of parts; model names resolved to their facts.
import { crc32, deflateSync } from 'zlib';
import {
  countChatTokens,
  countMessageTokens,
  countToolsTokens,
  messageTokenSteps,
  REPLY_PRIMING_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_TOOL_CALL,
} from '../../lib/tokens/chat';
import { countTokens } from '../../lib/tokens/count';
import { getEncoder } from '../../lib/tokens/encoder';
import { countPrompt, promptCounter } from '../../lib/tokens/prompt';
import type { PromptCounter } from '../../lib/tokens/prompt-counter';
import { runSliced, runSlicedNow, runWhole, WHOLE, type Slice, type Steps } from '../../lib/tokens/slice';
import type * as Images from '../../lib/tokens/images';
import type * as Tools from '../../lib/tokens/tools';
import { countImageTokens, IMAGE_RULES, imageSizeFromUrl, patchCount, tileCount } from '../../lib/tokens/images';
import {
  fallbackModel,
  isUnlistedSnapshot,
  lookupModel,
  MODEL_FAMILIES,
  requireModel,
  withoutRouterPrefix,
  type ModelInfo,
} from '../../lib/tokens/models';
import type { ChatMessage, ToolDefinition } from '../../lib/messages';
import { loadAnew } from '../helpers/load-anew';
import { randomLetters } from './corpus';

const modelInfo = (model: string): ModelInfo => lookupModel(model)!;
const o200k = getEncoder('o200k_base');
const dataUrl = (mime: string, bytes: Buffer) => `data:${mime};base64,${bytes.toString('base64')}`;
const imageMessage = (url: string, detail?: 'low' | 'high' | 'auto'): ChatMessage => ({
  role: 'user',
  content: [{ type: 'image_url', image_url: detail ? { url, detail } : { url } }],
});

// --- Image files built as bytes -------------------------------------------------

/** A complete, decodable PNG: 8-bit grey, every pixel black. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth; colour type 0 (grey), default compression, filter, interlace
  const scanlines = Buffer.alloc((width + 1) * height); // filter byte 0, then black pixels
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(scanlines)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A complete GIF whose one 1×1 frame sits on a `width`×`height` logical screen. */
function gif(width: number, height: number): Buffer {
  const screen = Buffer.alloc(4);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  return Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    screen,
    Buffer.from('800000' + '000000ffffff', 'hex'), // global table of 2 colours
    Buffer.from('2c000000000100010000' + '02024401' + '00' + '3b', 'hex'), // frame, LZW data, trailer
  ]);
}

/**
 * A complete baseline JPEG, grey and flat: every 8×8 block is "DC unchanged, end of
 * block", two 1-bit codes. EXIF and ICC segments (80 KB) and a fill byte come before
 * the frame header, as in camera files, so the header is far from the start.
 */
function jpeg(width: number, height: number): Buffer {
  const segment = (marker: number, data: Buffer) => {
    const head = Buffer.from([0xff, marker, 0, 0]);
    head.writeUInt16BE(data.length + 2, 2);
    return Buffer.concat([head, data]);
  };
  const frame = Buffer.from([8, 0, 0, 0, 0, 1, 1, 0x11, 0]);
  frame.writeUInt16BE(height, 1);
  frame.writeUInt16BE(width, 3);
  const oneCodeTable = (tableClass: number) => Buffer.from([tableClass << 4, 1, ...Array<number>(15).fill(0), 0]);
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const scan = Buffer.alloc(Math.ceil((blocks * 2) / 8));
  scan[scan.length - 1]! |= (1 << (scan.length * 8 - blocks * 2)) - 1; // pad the last byte with 1 bits
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from('4a46494600010100000100010000', 'hex')), // JFIF
    segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), Buffer.alloc(60_000)])),
    segment(0xe2, Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.alloc(20_000)])),
    segment(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])), // quantisation table
    Buffer.from([0xff]), // a fill byte before the next marker
    segment(0xc0, frame),
    segment(0xc4, Buffer.concat([oneCodeTable(0), oneCodeTable(1)])), // DC and AC tables
    segment(0xda, Buffer.from([1, 1, 0, 0, 63, 0])),
    scan,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A RIFF/WebP container whose first chunk is `fourCC` with `data` (headers only, no image data after them). */
function webp(fourCC: 'VP8 ' | 'VP8L' | 'VP8X', data: Buffer): Buffer {
  const chunkHead = Buffer.alloc(8);
  chunkHead.write(fourCC, 0, 'latin1');
  chunkHead.writeUInt32LE(data.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + 8 + data.length, 4);
  riff.write('WEBP', 8, 'latin1');
  return Buffer.concat([riff, chunkHead, data]);
}

function webpLossy(width: number, height: number): Buffer {
  const data = Buffer.alloc(10);
  data.set([0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a], 0); // frame tag (key frame), start code
  data.writeUInt16LE(width, 6);
  data.writeUInt16LE(height, 8);
  return webp('VP8 ', data);
}

function webpLossless(width: number, height: number): Buffer {
  const data = Buffer.alloc(5);
  data[0] = 0x2f;
  data.writeUInt32LE((width - 1) | ((height - 1) << 14), 1);
  return webp('VP8L', data);
}

function webpExtended(width: number, height: number): Buffer {
  const data = Buffer.alloc(10);
  data.writeUIntLE(width - 1, 4, 3);
  data.writeUIntLE(height - 1, 7, 3);
  return webp('VP8X', data);
}

/** A JPEG segment: marker, big-endian length (itself included), data. */
function jpegSegment(marker: number, data: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(data.length + 2, 2);
  return Buffer.concat([head, data]);
}

/** A frame header's data: precision, height, width, one component. */
function frameData(width: number, height: number): Buffer {
  const frame = Buffer.from([8, 0, 0, 0, 0, 1, 1, 0x11, 0]);
  frame.writeUInt16BE(height, 1);
  frame.writeUInt16BE(width, 3);
  return frame;
}

/** The start of a JPEG: its SOI marker, then `parts` (only what the header walk reads). */
const jpegOf = (...parts: Buffer[]) => Buffer.concat([Buffer.from([0xff, 0xd8]), ...parts]);

/** `bytes` with `text` written over them at `offset`. */
function overwritten(bytes: Buffer, offset: number, text: string | number[]): Buffer {
  const copy = Buffer.from(bytes);
  if (typeof text === 'string') copy.write(text, offset, 'latin1');
  else copy.set(text, offset);
  return copy;
}

// --- Messages -------------------------------------------------------------------

describe('countChatTokens: messages (OpenAI cookbook, num_tokens_from_messages)', () => {
  const jargon: ChatMessage[] = [
    {
      role: 'system',
      content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
    },
    { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
    { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
    {
      role: 'system',
      name: 'example_user',
      content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
    { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
  ];

  it.each([
    ['gpt-3.5-turbo', 129],
    ['gpt-4', 129],
    ['gpt-4o', 124],
    ['gpt-4o-mini', 124],
  ])('counts the cookbook conversation on %s as the API did: %i', (model, expected) => {
    expect(countChatTokens(jargon, { model })).toBe(expected);
  });

  it('counts a null content as nothing', () => {
    // 3 framing + "assistant" (1 token) + 3 priming
    expect(countChatTokens([{ role: 'assistant', content: null }], { model: 'gpt-4o' })).toBe(3 + 1 + 3);
  });

  it('counts text parts of a content array as text', () => {
    const asParts: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'Hello ' },
        { type: 'text', text: 'world' },
      ],
    };
    expect(countChatTokens([asParts], { model: 'gpt-4o' })).toBe(
      3 + o200k.count('user') + o200k.count('Hello ') + o200k.count('world') + 3,
    );
  });

  it('counts a tool call as its id, name, arguments and a fixed framing; a tool result as its id and content', () => {
    const call: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_abc123', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }],
    };
    const result: ChatMessage = { role: 'tool', tool_call_id: 'call_abc123', content: '12:00' };
    const info = modelInfo('gpt-4o');
    expect(countMessageTokens(call, info)).toBe(
      TOKENS_PER_MESSAGE +
        o200k.count('assistant') +
        TOKENS_PER_TOOL_CALL +
        o200k.count('call_abc123') +
        o200k.count('get_time') +
        o200k.count('{"tz":"UTC"}'),
    );
    expect(countMessageTokens(result, info)).toBe(
      TOKENS_PER_MESSAGE + o200k.count('tool') + o200k.count('12:00') + o200k.count('call_abc123'),
    );
  });

  it('counts a call id at any length: a 900 KB id is not a few tokens of framing', () => {
    const id = randomLetters(900_000, 3);
    const idTokens = o200k.count(id);
    expect(idTokens).toBeGreaterThan(100_000);
    const info = modelInfo('gpt-4o');
    const result: ChatMessage = { role: 'tool', tool_call_id: id, content: 'ok' };
    expect(countMessageTokens(result, info)).toBe(TOKENS_PER_MESSAGE + o200k.count('tool') + o200k.count('ok') + idTokens);
    const call: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id, type: 'function', function: { name: 'f', arguments: '{}' } }],
    };
    expect(countMessageTokens(call, info)).toBeGreaterThan(idTokens);
    expect(countChatTokens([call, result], { model: 'gpt-4o', limit: 1_000 })).toBeGreaterThan(1_000);
  });

  it("counts a bare text in its model's encoding: countTokens", () => {
    const text = 'Tokenization differs: ｆｕｌｌ-width ＡＢＣ and 東京.';
    const cl100k = getEncoder('cl100k_base').count(text);
    expect(o200k.count(text)).not.toBe(cl100k);
    expect(countTokens(text, 'gpt-4o')).toBe(o200k.count(text));
    expect(countTokens(text, 'gpt-4')).toBe(cl100k);
    expect(() => countTokens(text, 'llama-3')).toThrow(expect.objectContaining({ code: 'TB_UNKNOWN_MODEL' }));
  });

  it('refuses a model it cannot count for, with TB_UNKNOWN_MODEL', () => {
    expect(() => countChatTokens([], { model: 'llama-3' })).toThrow(expect.objectContaining({ code: 'TB_UNKNOWN_MODEL' }));
  });
});

// --- Tools ----------------------------------------------------------------------

describe('countChatTokens: tools (OpenAI cookbook, num_tokens_for_tools)', () => {
  const weather: ToolDefinition[] = [
    {
      type: 'function',
      function: {
        name: 'get_current_weather',
        description: 'Get the current weather in a given location',
        parameters: {
          type: 'object',
          properties: {
            location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
            unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
          },
          required: ['location'],
        },
      },
    },
  ];
  const weatherMessages: ChatMessage[] = [
    { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
    { role: 'user', content: "What's the weather like in San Francisco?" },
  ];

  // Tools on o200k: func_init 7 + "get_current_weather:Get the current weather in a given location" 11
  //   + prop_init 3 + (3 + "location:string:The city and state, e.g. San Francisco, CA" 14)
  //   + (3 − 3 + (3 + "celsius" 2) + (3 + "fahrenheit" 2) + "unit:string:The unit of temperature to return" 8)
  //   + func_end 12 = 68; messages 3 + 1 + 14 + 3 + 1 + 8 + priming 3 = 33; 68 + 33 = 101.
  // On cl100k: func_init 10 instead of 7, and the user message is 9 tokens instead of 8: 105.
  it.each([
    ['gpt-3.5-turbo', 105],
    ['gpt-4', 105],
    ['gpt-4o', 101],
    ['gpt-4o-mini', 101],
  ])('counts the cookbook weather tool on %s as the API did: %i', (model, expected) => {
    expect(countChatTokens(weatherMessages, { model, tools: weather })).toBe(expected);
  });

  it('counts no tools as nothing at all (no func_end)', () => {
    expect(countToolsTokens([], modelInfo('gpt-4o'))).toBe(0);
  });

  it('counts a tool without description or parameters as its name and a colon, between func_init and func_end', () => {
    const ping: ToolDefinition = { type: 'function', function: { name: 'ping' } };
    expect(countToolsTokens([ping], modelInfo('gpt-4o'))).toBe(7 + o200k.count('ping:') + 12);
  });

  it('opens no property list for parameters without properties (no prop_init), and adds no JSON when all is read', () => {
    const clear: ToolDefinition = {
      type: 'function',
      function: { name: 'clear', description: 'Clears it.', parameters: { type: 'object', properties: {}, required: [] } },
    };
    expect(countToolsTokens([clear], modelInfo('gpt-4o'))).toBe(7 + o200k.count('clear:Clears it') + 12);
  });

  it('counts enum values that are not strings as their JSON, a union type joined with |, and a missing type as empty', () => {
    const tune: ToolDefinition = {
      type: 'function',
      function: {
        name: 'tune',
        parameters: {
          type: 'object',
          properties: {
            level: { type: ['integer', 'null'], enum: [1, 2, null] },
            note: { description: 'Free text.' },
          },
        },
      },
    };
    expect(countToolsTokens([tune], modelInfo('gpt-4o'))).toBe(
      7 +
        o200k.count('tune:') +
        3 +
        // prop_key 3, enum_init −3, 3 per value and its JSON text
        (3 - 3 + 3 * 3 + o200k.count('1') + o200k.count('2') + o200k.count('null') + o200k.count('level:integer | null:')) +
        (3 + o200k.count('note::Free text')) +
        12,
    );
  });

  it('reads type, properties and required of the parameters, and type, description and enum of a property: the rest as JSON', () => {
    // Loaded here, so that a mutation run sees a change to the sets built at load time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tools = loadAnew(() => require('../../lib/tokens/tools') as typeof Tools);
    const definition: ToolDefinition = {
      type: 'function',
      function: {
        name: 'set',
        description: 'Sets it.',
        parameters: {
          type: 'object',
          properties: { mode: { type: 'string', description: 'How.', enum: ['on', 'off'], default: 'on' } },
          required: ['mode'],
          additionalProperties: false,
        },
      },
    };
    expect([...tools.toolTokenParts([definition], 7)]).toEqual([
      7,
      'set:Sets it',
      3,
      3 - 3 + 2 * 3,
      'on',
      'off',
      'mode:string:How',
      '{"default":"on"}',
      '{"additionalProperties":false}',
      12,
    ]);
  });

  it('counts each tool with its own func_init, and func_end once', () => {
    const one: ToolDefinition = { type: 'function', function: { name: 'one' } };
    const two: ToolDefinition = { type: 'function', function: { name: 'two' } };
    const cl100k = getEncoder('cl100k_base');
    expect(countToolsTokens([one, two], modelInfo('gpt-4'))).toBe(10 + cl100k.count('one:') + 10 + cl100k.count('two:') + 12);
  });

  it('adds the JSON of the schema parts the cookbook does not read (nested items, constraints)', () => {
    const search: ToolDefinition = {
      type: 'function',
      function: {
        name: 'search',
        description: 'Find things.',
        parameters: {
          type: 'object',
          properties: { tags: { type: 'array', description: 'Tags.', items: { type: 'string' } } },
          additionalProperties: false,
        },
      },
    };
    expect(countToolsTokens([search], modelInfo('gpt-4o'))).toBe(
      7 +
        o200k.count('search:Find things') +
        3 +
        (3 + o200k.count('tags:array:Tags') + o200k.count('{"items":{"type":"string"}}')) +
        o200k.count('{"additionalProperties":false}') +
        12,
    );
  });
});

// --- Images ---------------------------------------------------------------------

describe('image parts', () => {
  const gpt4o = modelInfo('gpt-4o').image;
  /**
   * The header reader of a module loaded in the test: its base64 alphabet and JPEG's standalone
   * markers are built as it loads, which a mutation run sees only in a test that loads it.
   */
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const freshSizeReader = () => loadAnew(() => require('../../lib/tokens/images') as typeof Images).imageSizeFromUrl;

  it('counts 1024×1024 at high detail on gpt-4o as 765 (768×768: 4 tiles), and 85 at low', () => {
    const url = dataUrl('image/png', png(1024, 1024));
    expect(countImageTokens({ url, detail: 'high' }, gpt4o)).toBe(85 + 4 * 170);
    expect(countImageTokens({ url, detail: 'low' }, gpt4o)).toBe(85);
  });

  it('counts auto as high', () => {
    const url = dataUrl('image/png', png(1024, 1024));
    expect(countImageTokens({ url, detail: 'auto' }, gpt4o)).toBe(765);
    expect(countImageTokens({ url }, gpt4o)).toBe(765);
  });

  it('fits 4096×8192 in 2048 (1024×2048), then the short side to 768 (768×1536): 2 × 3 tiles', () => {
    expect(tileCount({ width: 4096, height: 8192 })).toBe(6);
  });

  it('never scales a small image up: 300×1100 is 1 × 3 tiles', () => {
    expect(countChatTokens([imageMessage(dataUrl('image/png', png(300, 1100)))], { model: 'gpt-4o' })).toBe(
      3 + o200k.count('user') + 85 + 3 * 170 + 3,
    );
  });

  it('uses the model family rates (gpt-4o-mini: 2833 + 5667 per tile)', () => {
    expect(countImageTokens({ url: dataUrl('image/png', png(1024, 1024)) }, modelInfo('gpt-4o-mini').image)).toBe(
      2833 + 4 * 5667,
    );
  });

  it('counts patch models by 32-px patches × the multiplier, rounded up, capped at 1536 patches', () => {
    const mini = modelInfo('gpt-4.1-mini').image; // × 1.62
    expect(countImageTokens({ url: dataUrl('image/png', png(1024, 1024)) }, mini)).toBe(1659); // 1024 × 1.62 = 1658.88
    expect(countImageTokens({ url: dataUrl('image/png', png(320, 320)) }, mini)).toBe(162); // 100 × 1.62, not 163
    // 64 × 32 patches is over 1536: scaled to 1728×864, 54 × 27 patches.
    expect(patchCount({ width: 2048, height: 1024 })).toBe(1458);
    expect(countImageTokens({ url: dataUrl('image/png', png(2048, 1024)) }, mini)).toBe(2362); // 1458 × 1.62 = 2361.96
    // The guide's own example: 1800×2400 is scaled to 1056×1408, 33 × 44 patches.
    expect(patchCount({ width: 1800, height: 2400 })).toBe(1452);
  });

  // Sizes, and their tiles (fit in 2048², short side to 768, 512-px tiles) and patches (32 px, over 1536 scaled down).
  const SIZES = [
    { size: [100, 100], tiles: 1, patches: 16 },
    { size: [512, 512], tiles: 1, patches: 256 },
    { size: [1024, 1024], tiles: 4, patches: 1024 },
    { size: [1800, 2400], tiles: 4, patches: 1452 },
    { size: [2048, 4096], tiles: 6, patches: 1458 },
  ] as const;
  // Every family of IMAGE_RULES, and text-only ones, with the rule the vision guide gives it.
  const FAMILY_RULES: Array<[string, { base: number; perTile: number } | { multiplier: number }]> = [
    ['gpt-4o', { base: 85, perTile: 170 }],
    ['gpt-4o-2024-05-13', { base: 85, perTile: 170 }],
    ['gpt-4.1', { base: 85, perTile: 170 }],
    ['gpt-4.5-preview', { base: 85, perTile: 170 }],
    ['gpt-4-turbo', { base: 85, perTile: 170 }],
    ['gpt-4-1106-vision-preview', { base: 85, perTile: 170 }],
    ['gpt-4', { base: 85, perTile: 170 }], // text-only: counted as gpt-4o
    ['gpt-4o-mini', { base: 2833, perTile: 5667 }],
    ['o1', { base: 75, perTile: 150 }],
    ['o3', { base: 75, perTile: 150 }],
    ['gpt-5', { base: 70, perTile: 140 }],
    ['gpt-5.1', { base: 70, perTile: 140 }],
    ['gpt-5-chat-latest', { base: 70, perTile: 140 }],
    ['gpt-4.1-mini', { multiplier: 1.62 }],
    ['gpt-5-mini', { multiplier: 1.62 }],
    ['gpt-4.1-nano', { multiplier: 2.46 }],
    ['gpt-5-nano', { multiplier: 2.46 }],
    ['o4-mini', { multiplier: 1.72 }],
  ];

  it.each(FAMILY_RULES)('%s: each size by its rule', (model, rule) => {
    for (const { size, tiles, patches } of SIZES) {
      const url = dataUrl('image/png', png(size[0], size[1]));
      // Patches × multiplier, in integer arithmetic so that 1024 × 1.62 is 1658.88 → 1659 exactly.
      const expected =
        'multiplier' in rule ? Math.ceil((patches * Math.round(rule.multiplier * 100)) / 100) : rule.base + tiles * rule.perTile;
      expect([model, size, countImageTokens({ url }, modelInfo(model).image)]).toEqual([model, size, expected]);
    }
  });

  it("counts a 1024×1024 image on gpt-5-mini and gpt-5-nano as patch models (1,659 and 2,520), not at gpt-5's tile rate (630)", () => {
    const url = dataUrl('image/png', png(1024, 1024));
    expect(countImageTokens({ url }, modelInfo('gpt-5-mini').image)).toBe(1659);
    expect(countImageTokens({ url }, modelInfo('gpt-5-nano').image)).toBe(2520);
    expect(countImageTokens({ url }, modelInfo('gpt-5').image)).toBe(630);
  });

  it('counts images on gpt-5.2 and later point releases by the highest reported rule (×1.2, 2,500 patches), never gpt-5 tiles', () => {
    const image = (width: number, height: number) => ({ url: dataUrl('image/png', png(width, height)) });
    for (const model of ['gpt-5.2', 'gpt-5.4', 'gpt-5.5-chat-latest', 'ft:gpt-5.2:acme::1']) {
      const rule = modelInfo(model).image;
      // The highest published calculator figure for 1024×1024 is 1,229 (1,024 patches × 1.2); gpt-5's tiles say 630.
      expect([model, countImageTokens(image(1024, 1024), rule)]).toEqual([model, 1229]);
      expect([model, countImageTokens(image(2048, 2048), rule)]).toEqual([model, 3000]);
      expect([model, countImageTokens({ url: 'https://example.com/cat.png' }, rule)]).toEqual([model, 3000]);
      // A tiny image costs more by gpt-5's tiles (70 + 140) than by patches.
      expect([model, countImageTokens(image(32, 32), rule)]).toEqual([model, 210]);
    }
    expect(countImageTokens(image(1024, 1024), modelInfo('gpt-5.2-mini').image)).toBe(1659);
    // Where the family's own rule is higher (nano: ×2.46), it is kept.
    const nano = countImageTokens(image(2048, 2048), modelInfo('gpt-5-nano').image);
    expect(nano).toBeGreaterThan(3000);
    expect(countImageTokens(image(2048, 2048), modelInfo('gpt-5.2-nano').image)).toBe(nano);
    expect(countImageTokens(image(1024, 1024), modelInfo('gpt-5.1').image)).toBe(630);
  });

  it('has a source with a year beside every rule, and a rule for every family', () => {
    for (const rule of IMAGE_RULES) expect(rule.source).toMatch(/20\d\d/);
    for (const family of MODEL_FAMILIES) expect(lookupModel(family)!.image).toBeDefined();
  });

  it('builds its table of rules as it loads: every family to its rule, with its source; others to the gpt-4o rule', () => {
    // Loaded here, so that a mutation run sees a change to the table built at load time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const images = loadAnew(() => require('../../lib/tokens/images') as typeof Images);
    const tile = (base: number, perTile: number) => ({ kind: 'tile', base, perTile });
    const patch = (multiplier: number) => ({ kind: 'patch', multiplier });
    const rules: Array<[string[], object]> = [
      [['gpt-4o', 'gpt-4o-2024-05-13', 'chatgpt-4o-latest', 'gpt-4.1', 'gpt-4.5'], tile(85, 170)],
      [
        ['gpt-4-turbo', 'gpt-4-1106-preview', 'gpt-4-0125-preview', 'gpt-4-vision-preview', 'gpt-4-1106-vision-preview'],
        tile(85, 170),
      ],
      [['gpt-4o-mini'], tile(2_833, 5_667)],
      [['o1', 'o1-pro', 'o3', 'o3-pro'], tile(75, 150)],
      [['gpt-5', 'gpt-5-chat-latest'], tile(70, 140)],
      [['gpt-4.1-mini', 'gpt-5-mini'], patch(1.62)],
      [['gpt-4.1-nano', 'gpt-5-nano'], patch(2.46)],
      [['o4-mini'], patch(1.72)],
    ];
    expect(images.IMAGE_RULES.map(({ families, cost }) => [families, cost])).toEqual(rules);
    for (const [families, cost] of rules)
      for (const family of families) expect([family, images.imageRuleOf(family)]).toEqual([family, cost]);
    for (const textOnly of ['gpt-4', 'gpt-3.5-turbo', 'o3-mini', 'acme-llm'])
      expect(images.imageRuleOf(textOnly)).toEqual(tile(85, 170));
    const guide = "OpenAI vision guide, 'Calculating costs' (platform.openai.com/docs/guides/images-vision)";
    const measured = 'API-measured 128×64 image, community.openai.com/t/1262691 (2025)';
    const [gpt4o, turbo, mini, o, gpt5, mini41, nano, o4] = images.IMAGE_RULES.map((rule) => rule.source);
    expect(gpt4o).toBe(`${guide}, tile table, 2025; ${measured}: 85 / 255 on gpt-4o, gpt-4.1, gpt-4.5`);
    expect(turbo).toBe(
      `OpenAI vision guide for gpt-4-vision-preview, 2023-11 (DevDay); ${measured}: gpt-4-turbo-2024-04-09 as gpt-4o`,
    );
    expect(mini).toBe(`${guide}, tile table, 2024-07 (gpt-4o-mini release) to 2025; ${measured}: 2,833 / 8,500`);
    expect(o).toBe(`${guide}, tile table (o1, o1-pro, o3), 2025; ${measured}: o3 75 / 225 (o1 was billed less: 22 / 44)`);
    expect(gpt5).toBe(`${guide}, tile table (gpt-5, gpt-5-chat-latest), 2025-08 (gpt-5 release)`);
    expect(mini41).toBe(
      `${guide}, patch multipliers, quoted 2025-08 on community.openai.com/t/1344040; ${measured}: gpt-4.1-mini 13`,
    );
    expect(nano).toBe(
      `${guide}, patch multipliers, quoted 2025-08 on community.openai.com/t/1344040; ${measured}: gpt-4.1-nano 20`,
    );
    expect(o4).toBe(`${guide}, patch multipliers, 2025; ${measured}: 14`);
    // gpt-5.2 and later: the highest of the family's rule and ×1.2 over at most 2,500 patches.
    expect(images.unpublishedImageRuleOf('gpt-5')).toEqual({
      kind: 'highest',
      of: [tile(70, 140), { kind: 'patch', multiplier: 1.2, maxPatches: 2_500 }],
    });
  });

  it('counts an image of unknown size at the most the formula can give', () => {
    const remote = { url: 'https://example.com/cat.png' };
    expect(countImageTokens(remote, gpt4o)).toBe(85 + 8 * 170); // 2048×768: 4 × 2 tiles
    expect(countImageTokens({ ...remote, detail: 'low' }, gpt4o)).toBe(85);
    expect(countImageTokens(remote, modelInfo('o4-mini').image)).toBe(Math.ceil(1536 * 1.72));
    expect(countImageTokens({ url: 'data:image/png;base64,not-an-image' }, gpt4o)).toBe(1445);
  });

  it('reads sizes from PNG, JPEG (frame header 80 KB in), GIF and WebP (VP8, VP8L, VP8X) headers', () => {
    expect(imageSizeFromUrl(dataUrl('image/png', png(300, 200)))).toEqual({ width: 300, height: 200 });
    expect(imageSizeFromUrl(dataUrl('image/jpeg', jpeg(600, 400)))).toEqual({ width: 600, height: 400 });
    expect(imageSizeFromUrl(dataUrl('image/gif', gif(640, 480)))).toEqual({ width: 640, height: 480 });
    expect(imageSizeFromUrl(dataUrl('image/webp', webpLossy(1000, 750)))).toEqual({ width: 1000, height: 750 });
    expect(imageSizeFromUrl(dataUrl('image/webp', webpLossless(513, 16383)))).toEqual({ width: 513, height: 16383 });
    expect(imageSizeFromUrl(dataUrl('image/webp', webpExtended(4000, 3000)))).toEqual({ width: 4000, height: 3000 });
  });

  it('trusts the bytes, not the media type', () => {
    expect(imageSizeFromUrl(dataUrl('image/png', jpeg(600, 400)))).toEqual({ width: 600, height: 400 });
  });

  it('reads nothing it cannot place exactly: truncated headers, line-broken base64, non-base64 data URLs', () => {
    const imageSizeFromUrl = freshSizeReader();
    const base64 = png(300, 200).toString('base64');
    expect(imageSizeFromUrl(`data:image/png;base64,${base64.slice(0, 20)}`)).toBeUndefined();
    expect(imageSizeFromUrl(`data:image/png;base64,${base64.slice(0, 20)}\n${base64.slice(20)}`)).toBeUndefined();
    expect(imageSizeFromUrl(`data:image/png,${base64}`)).toBeUndefined();
  });

  it('reads no size from a URL that is not a base64 data URL, even one that holds ";base64,"', () => {
    const base64 = png(300, 200).toString('base64');
    expect(imageSizeFromUrl(`https://example.com/;base64,${base64}`)).toBeUndefined();
    expect(imageSizeFromUrl(`data:image/png;base64,${base64}`)).toEqual({ width: 300, height: 200 });
  });

  it('reads URL-safe base64 (- and _) as well, and no payload with percent-escapes', () => {
    const imageSizeFromUrl = freshSizeReader();
    const header = (width: number, height: number) => png(width, height).subarray(0, 24);
    // Their headers encode to "…UgAAA-gAAALu" and "…UgAAA_8AAAL_".
    expect(imageSizeFromUrl(`data:image/png;base64,${header(1000, 750).toString('base64url')}`)).toEqual({
      width: 1000,
      height: 750,
    });
    expect(imageSizeFromUrl(`data:image/png;base64,${header(1023, 767).toString('base64url')}`)).toEqual({
      width: 1023,
      height: 767,
    });
    const escaped = header(1023, 767).toString('base64').replace(/\//g, '%2F');
    expect(escaped).toContain('%2F');
    expect(imageSizeFromUrl(`data:image/png;base64,${escaped}`)).toBeUndefined();
  });

  it('fits an image in 2048×2048 before bringing its short side to 768, and counts patches of a scaled image by both sides', () => {
    // From a module loaded here: its side-rounding functions are made as it loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const images = loadAnew(() => require('../../lib/tokens/images') as typeof Images);
    // 4096×1024 fits as 2048×512, whose short side is under 768 already: 4 × 1 tiles (not 3072×768, 6 × 2).
    expect(images.tileCount({ width: 4096, height: 1024 })).toBe(4);
    expect(images.tileCount({ width: 1024, height: 4096 })).toBe(4);
    expect(images.tileCount({ width: 4096, height: 8192 })).toBe(6);
    // 4000×3000 scales to 1408×1056 (44 × 33), 3000×1000 to 2112×704 (66 × 22).
    expect(images.patchCount({ width: 4000, height: 3000 })).toBe(1452);
    expect(images.patchCount({ width: 3000, height: 1000 })).toBe(1452);
    expect(images.patchCount({ width: 1800, height: 2400 })).toBe(1452);
    expect(images.patchCount({ width: 320, height: 320 })).toBe(100);
  });

  it('reads no size from a base64 group holding a character outside the alphabet, and a PNG size only after its signature', () => {
    const imageSizeFromUrl = freshSizeReader();
    // A line break inside the group of the GIF screen size: skipped, it would shift the bytes read.
    const base64 = gif(640, 480).toString('base64');
    expect(imageSizeFromUrl(`data:image/gif;base64,${base64}`)).toEqual({ width: 640, height: 480 });
    expect(imageSizeFromUrl(`data:image/gif;base64,${base64.slice(0, 10)}\n${base64.slice(10)}`)).toBeUndefined();
    expect(imageSizeFromUrl(dataUrl('image/png', overwritten(png(300, 200), 1, 'JPG')))).toBeUndefined();
  });

  it('reads no PNG size from a first chunk that is not IHDR, a header cut short, or a zero side', () => {
    const whole = png(300, 200);
    expect(imageSizeFromUrl(dataUrl('image/png', overwritten(whole, 12, 'IDAT')))).toBeUndefined();
    expect(imageSizeFromUrl(dataUrl('image/png', whole.subarray(0, 20)))).toBeUndefined();
    expect(imageSizeFromUrl(dataUrl('image/png', png(0, 200)))).toBeUndefined();
    expect(imageSizeFromUrl(dataUrl('image/png', png(300, 0)))).toBeUndefined();
    // An image of no readable size is counted at the most.
    expect(countImageTokens({ url: dataUrl('image/png', png(0, 200)) }, gpt4o)).toBe(85 + 8 * 170);
  });

  it('reads GIF87a as GIF89a, and no size from a GIF cut inside its screen size', () => {
    const imageSizeFromUrl = freshSizeReader();
    expect(imageSizeFromUrl(dataUrl('image/gif', overwritten(gif(640, 480), 0, 'GIF87a')))).toEqual({ width: 640, height: 480 });
    expect(imageSizeFromUrl(dataUrl('image/gif', overwritten(gif(640, 480), 0, 'GIF88a')))).toBeUndefined();
    expect(imageSizeFromUrl(dataUrl('image/gif', gif(640, 480).subarray(0, 8)))).toBeUndefined();
    // Ten bytes end in a group padded with "==", which holds the screen size.
    const tenBytes = dataUrl('image/gif', gif(640, 480).subarray(0, 10));
    expect(tenBytes).toMatch(/==$/);
    expect(imageSizeFromUrl(tenBytes)).toEqual({ width: 640, height: 480 });
  });

  it('reads no WebP size from a wrong start code or signature, a chunk cut short, another chunk or another RIFF form', () => {
    const read = (bytes: Buffer) => imageSizeFromUrl(dataUrl('image/webp', bytes));
    const lossy = webpLossy(1000, 750);
    // The frame's data starts at byte 20: its start code 9d 01 2a at 23, 24, 25; each byte checked.
    expect(read(overwritten(lossy, 23, [0x9c]))).toBeUndefined();
    expect(read(overwritten(lossy, 24, [0x02]))).toBeUndefined();
    expect(read(overwritten(lossy, 25, [0x2b]))).toBeUndefined();
    expect(read(lossy.subarray(0, 29))).toBeUndefined();
    expect(read(overwritten(webpLossless(513, 300), 20, [0x2e]))).toBeUndefined();
    expect(read(webpLossless(513, 300).subarray(0, 24))).toBeUndefined();
    expect(read(webpExtended(4000, 3000).subarray(0, 29))).toBeUndefined();
    expect(read(overwritten(webpExtended(4000, 3000), 12, 'ALPH'))).toBeUndefined();
    expect(read(overwritten(lossy, 8, 'WAVE'))).toBeUndefined();
    expect(read(overwritten(lossy, 0, 'RIFX'))).toBeUndefined();
  });

  it('walks JPEG segments past DHT, JPG and DAC (C4, C8, CC, not frame headers), standalone markers and fill bytes', () => {
    const imageSizeFromUrl = freshSizeReader();
    const read = (bytes: Buffer) => imageSizeFromUrl(dataUrl('image/jpeg', bytes));
    const notFrames = [
      jpegSegment(0xc4, frameData(111, 222)),
      jpegSegment(0xc8, frameData(333, 444)),
      jpegSegment(0xcc, frameData(555, 666)),
      Buffer.from([0xff, 0xd0, 0xff, 0x01, 0xff, 0xff]), // RST0, TEM, then a fill byte
    ];
    expect(read(jpegOf(...notFrames, jpegSegment(0xc2, frameData(600, 400))))).toEqual({ width: 600, height: 400 });
    // A marker below the frame headers' range (0xbf) is a segment to skip.
    expect(read(jpegOf(jpegSegment(0xbf, frameData(111, 222)), jpegSegment(0xc0, frameData(600, 400))))).toEqual({
      width: 600,
      height: 400,
    });
    // SOF15, the last frame header of the range.
    expect(read(jpegOf(...notFrames, jpegSegment(0xcf, frameData(700, 500))))).toEqual({ width: 700, height: 500 });
  });

  it('gives up on a JPEG after 1,000 segments without a frame header', () => {
    const read = (bytes: Buffer) => imageSizeFromUrl(dataUrl('image/jpeg', bytes));
    const tems = (n: number) => Buffer.from(Array.from({ length: n }, () => [0xff, 0x01]).flat());
    const frame = jpegSegment(0xc0, frameData(64, 48));
    expect(read(jpegOf(tems(999), frame))).toEqual({ width: 64, height: 48 });
    expect(read(jpegOf(tems(1000), frame))).toBeUndefined();
  });

  it('reads no JPEG size from a walk that breaks: nothing after SOI, a byte that opens no marker, a cut segment or frame header', () => {
    const read = (bytes: Buffer) => imageSizeFromUrl(dataUrl('image/jpeg', bytes));
    const frame = jpegSegment(0xc0, frameData(64, 48));
    expect(read(jpegOf(frame))).toEqual({ width: 64, height: 48 });
    expect(read(jpegOf())).toBeUndefined();
    expect(read(jpegOf(Buffer.from([0x00]), frame))).toBeUndefined();
    expect(read(jpegOf(Buffer.from([0xff, 0xe0, 0x00])))).toBeUndefined();
    expect(read(jpegOf(frame.subarray(0, 7)))).toBeUndefined();
    expect(read(overwritten(jpegOf(frame), 1, [0xd9]))).toBeUndefined();
  });

  it('decodes only a few bytes of a 20 MB data URL', () => {
    const header = png(3000, 1000).subarray(0, 33); // signature and IHDR
    const url = `data:image/png;base64,${Buffer.concat([header, Buffer.alloc(15_000_000)]).toString('base64')}`;
    const decode = jest.spyOn(Buffer, 'from');
    try {
      expect(imageSizeFromUrl(url)).toEqual({ width: 3000, height: 1000 });
      for (const [input] of decode.mock.calls) expect(String(input).length).toBeLessThan(64);
    } finally {
      decode.mockRestore();
    }
  });
});

// --- Early exit and sum of parts -------------------------------------------------

describe('limit and parts', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'Answer briefly.' },
    {
      role: 'user',
      name: 'ada',
      content: [
        { type: 'text', text: 'What is on this picture?' },
        { type: 'image_url', image_url: { url: dataUrl('image/gif', gif(640, 480)) } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"zoom":2}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: 'A cat on a mat.' },
  ];
  const tools: ToolDefinition[] = [
    {
      type: 'function',
      function: {
        name: 'look',
        description: 'Look closer.',
        parameters: { type: 'object', properties: { zoom: { type: 'integer', description: 'How much.' } } },
      },
    },
  ];

  it('adds up exactly: priming + tools + each message', () => {
    const info = modelInfo('gpt-4o');
    const parts =
      REPLY_PRIMING_TOKENS +
      countToolsTokens(tools, info) +
      conversation.reduce((sum, m) => sum + countMessageTokens(m, info), 0);
    expect(countChatTokens(conversation, { model: 'gpt-4o', tools })).toBe(parts);
  });

  it('returns the exact count at or under the limit, and a number over it past the limit', () => {
    const exact = countChatTokens(conversation, { model: 'gpt-4o', tools });
    expect(countChatTokens(conversation, { model: 'gpt-4o', tools, limit: exact })).toBe(exact);
    expect(countChatTokens(conversation, { model: 'gpt-4o', tools, limit: exact - 1 })).toBeGreaterThan(exact - 1);
    expect(countChatTokens(conversation, { model: 'gpt-4o', tools, limit: 0 })).toBeGreaterThan(0);

    const info = modelInfo('gpt-4o');
    const message = conversation[0]!;
    const messageExact = countMessageTokens(message, info);
    expect(countMessageTokens(message, info, messageExact)).toBe(messageExact);
    expect(countMessageTokens(message, info, messageExact - 1)).toBeGreaterThan(messageExact - 1);
  });

  it('stops once past the limit: what follows is never encoded, the passing text only up to what was left', () => {
    const big = 'word '.repeat(200);
    const messages: ChatMessage[] = [
      { role: 'user', content: 'hi' },
      { role: 'user', content: big },
      { role: 'user', content: 'never read' },
    ];
    const countUpTo = jest.spyOn(o200k, 'startCount');
    const count = jest.spyOn(o200k, 'count');
    try {
      const limit = 50;
      expect(countChatTokens(messages, { model: 'gpt-4o', limit })).toBeGreaterThan(limit);
      const texts = countUpTo.mock.calls.map(([text]) => text);
      expect(texts).toEqual(['user', 'hi', 'user', big]);
      // priming 3 + (3 + 1 + 1) + (3 + 1) = 12 counted before the big text: 38 left for it
      expect(countUpTo.mock.calls[3]![1]).toBe(limit - 12);
      expect(count).not.toHaveBeenCalled();
    } finally {
      countUpTo.mockRestore();
      count.mockRestore();
    }
  });
});

describe('a prompt counted message by message, in slices', () => {
  const info = modelInfo('gpt-4o');
  // Texts under 32 characters or over 4,096 are never remembered: each count below counts them afresh.
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You answer briefly. '.repeat(250) },
    { role: 'user', content: 'x'.repeat(70_000) }, // one piece long enough to be merged in slices
    { role: 'assistant', content: 'the quick brown fox '.repeat(250) },
    { role: 'user', name: 'ada', content: 'and now?' }, // a name: not the role-and-text path
    { role: 'user', content: 'and then?' },
  ];
  const exact = countChatTokens(conversation, { model: 'gpt-4o' });
  /** Counts the conversation with a slice due at every `every`-th look at the clock: the figure, and how often the work yielded. */
  const countInSlices = (limit: number, every: number) => {
    let looks = 0;
    const slice = { due: () => ++looks % every === 0 };
    const counter = runWhole(promptCounter(info, undefined, {}, limit, slice));
    const steps = countPrompt(conversation, counter, limit, slice);
    let yields = 0;
    for (;;) {
      const step = steps.next();
      if (step.done) return { tokens: step.value, yields };
      yields++;
    }
  };

  it.each([1, 2, 3, 4, 5, 7, 1e9])(
    'gives the count made in one go, wherever the slice ends (due at every %s-th look)',
    (every) => {
      const whole = countInSlices(Infinity, every);
      expect(whole.tokens).toBe(exact);
      if (every < 1e9) expect(whole.yields).toBeGreaterThan(0);
      expect(countInSlices(exact, every).tokens).toBe(exact);
      for (const limit of [exact - 1, 3_000, 40, 5, 0]) expect(countInSlices(limit, every).tokens).toBeGreaterThan(limit);
    },
  );

  it('counts a role and a text at once: the figure, not work to run', () => {
    const never = { due: () => false };
    const message: ChatMessage = { role: 'user', content: 'the quick brown fox '.repeat(250) };
    const tokens = countMessageTokens(message, info);
    expect(messageTokenSteps(message, info, undefined, never)).toBe(tokens);
    expect(messageTokenSteps(message, info, tokens, never)).toBe(tokens);
    expect(messageTokenSteps(message, info, tokens - 1, never)).toBeGreaterThan(tokens - 1);
  });
});

// --- Model names ----------------------------------------------------------------

describe('model names', () => {
  const familyOf = (model: string) => lookupModel(model)?.family;

  it('resolves a name to the longest family it starts with, followed by nothing or "-"', () => {
    expect(familyOf('gpt-4o')).toBe('gpt-4o');
    expect(familyOf('gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(familyOf('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(familyOf('gpt-4-turbo-2024-04-09')).toBe('gpt-4-turbo');
    expect(familyOf('gpt-4ox')).toBeUndefined();
    expect(familyOf('gpt-4.7')).toBeUndefined();
    expect(familyOf('xgpt-4o')).toBeUndefined();
    expect(familyOf('')).toBeUndefined();
  });

  it('resolves a fine-tune to its base and a router name to the part after its last "/"', () => {
    expect(withoutRouterPrefix('azure/openai/gpt-4o-mini')).toBe('gpt-4o-mini');
    expect(withoutRouterPrefix('gpt-4o')).toBe('gpt-4o');
    expect(familyOf('azure/openai/gpt-4o-mini')).toBe('gpt-4o-mini');
    expect(familyOf('ft:gpt-4o-mini:acme::abc123')).toBe('gpt-4o-mini');
    expect(familyOf('openai/ft:gpt-4.1:acme:custom:xyz')).toBe('gpt-4.1');
    // Only a name that begins with "ft:" is a fine-tune.
    expect(familyOf('xft:gpt-4o:acme::1')).toBeUndefined();
  });

  it("gives gpt-5's point releases its rows, and only those after 5.1 the unpublished image rule", () => {
    const gpt5 = lookupModel('gpt-5')!;
    expect(lookupModel('gpt-5.2-chat-latest')!.contextWindow).not.toBe(gpt5.contextWindow);
    for (const release of ['gpt-5.1', 'gpt-5.2', 'gpt-5.10-mini', 'gpt-5.2-chat-latest']) {
      const info = lookupModel(release)!;
      const base = lookupModel(release.replace(/\.\d+/, ''))!;
      expect([release, info.family, info.contextWindow, info.maxInputTokens]).toEqual([
        release,
        base.family,
        base.contextWindow,
        base.maxInputTokens,
      ]);
    }
    expect(lookupModel('gpt-5.1')!.image).toEqual(gpt5.image);
    expect(lookupModel('gpt-5.2')!.image).toEqual({
      kind: 'highest',
      of: [gpt5.image, expect.objectContaining({ kind: 'patch' })],
    });
    expect(lookupModel('gpt-5.10-mini')!.image.kind).toBe('highest');
    expect(familyOf('gpt-5.1x')).toBeUndefined();
    expect(familyOf('gpt-4.1.2')).toBeUndefined();
  });

  it('refuses an unknown model with TB_UNKNOWN_MODEL, naming it and the way out', () => {
    expect(requireModel('gpt-4o-mini').family).toBe('gpt-4o-mini');
    expect(() => requireModel('llama-3')).toThrow(
      expect.objectContaining({
        code: 'TB_UNKNOWN_MODEL',
        message: expect.stringMatching(
          /^"llama-3" is not a known OpenAI model.*configure unknownModelEncoding\. \[TB_UNKNOWN_MODEL\]$/,
        ),
      }),
    );
  });

  it("counts a model no family matches as the fallback encoding's: unknown limits, hidden reasoning, the gpt-4o image rule", () => {
    expect(fallbackModel('acme-llm', 'cl100k_base')).toEqual({
      family: 'acme-llm',
      encoding: 'cl100k_base',
      contextWindow: undefined,
      maxOutputTokens: undefined,
      maxInputTokens: undefined,
      tokensPerMessage: 3,
      tokensPerName: 1,
      functionInit: 10,
      outputParam: 'max_tokens',
      hiddenReasoning: true,
      image: lookupModel('gpt-4o')!.image,
    });
    expect(fallbackModel('acme-llm', 'o200k_base').functionInit).toBe(7);
  });

  it('tells a dated snapshot OpenAI never listed from a listed one, a family name, and a variant', () => {
    for (const unlisted of [
      'gpt-4o-2099-01-01',
      'gpt-4-9999',
      'gpt-4o-mini-2099-01-01',
      'openai/gpt-4o-2099-01-01',
      'ft:gpt-4o-2099-01-01:acme::1',
      'gpt-5.1-2099-01-01',
    ]) {
      expect([unlisted, isUnlistedSnapshot(unlisted)]).toEqual([unlisted, true]);
    }
    for (const other of [
      'gpt-4o-2024-08-06',
      'gpt-4-0613',
      'gpt-35-turbo-0125',
      'gpt-4o',
      'gpt-4o-99',
      'gpt-4o-2099-01',
      'llama-2099-01-01',
      'gpt-4o-audio-preview-2099-01-01',
    ]) {
      expect([other, isUnlistedSnapshot(other)]).toEqual([other, false]);
    }
  });
});

// --- The prompt counter budgets use, and slices ---------------------------------

describe('promptCounter and countPrompt', () => {
  const info = modelInfo('gpt-4o');
  const tools: ToolDefinition[] = [{ type: 'function', function: { name: 'look', description: 'Look closer.' } }];
  const schema = { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } };
  const counterOf = (params: Record<string, unknown>, limit = Infinity, withTools?: ToolDefinition[]) =>
    runWhole(promptCounter(info, withTools, params, limit, WHOLE));

  it('fixes reply priming, tools, and the JSON of a response format, a Responses text format and a named tool choice', () => {
    expect(counterOf({}).fixed).toBe(REPLY_PRIMING_TOKENS);
    expect(counterOf({}, Infinity, []).fixed).toBe(REPLY_PRIMING_TOKENS);
    expect(counterOf({}, Infinity, tools).fixed).toBe(REPLY_PRIMING_TOKENS + countToolsTokens(tools, info));
    const choice = { type: 'function', function: { name: 'look' } };
    const text = { format: { type: 'json_object' } };
    expect(counterOf({ response_format: schema, text, tool_choice: choice }, Infinity, tools).fixed).toBe(
      REPLY_PRIMING_TOKENS +
        countToolsTokens(tools, info) +
        o200k.count(JSON.stringify(schema)) +
        o200k.count(JSON.stringify(text)) +
        o200k.count(JSON.stringify(choice)),
    );
    // A tool choice by keyword, a null or a text are not prompt text; other parameters are not read.
    expect(counterOf({ tool_choice: 'required', response_format: null, text: 'json', temperature: { x: 1 } }).fixed).toBe(
      REPLY_PRIMING_TOKENS,
    );
  });

  it('counts the fixed part only up to the limit: a number above it once passed, the parameters after it not encoded', () => {
    const json = JSON.stringify(schema);
    const exact = REPLY_PRIMING_TOKENS + o200k.count(json);
    expect(counterOf({ response_format: schema }, exact).fixed).toBe(exact);
    const startCount = jest.spyOn(o200k, 'startCount');
    try {
      // At the limit, what follows is counted against what is left (nothing): one token over.
      expect(counterOf({ response_format: schema, tool_choice: { type: 'function' } }, exact).fixed).toBe(exact + 1);
      // Past it, the rest is not looked at.
      startCount.mockClear();
      expect(counterOf({ response_format: schema, tool_choice: { type: 'function' } }, exact - 2).fixed).toBe(exact - 1);
      expect(startCount.mock.calls.map(([counted]) => counted)).toEqual([json]);
    } finally {
      startCount.mockRestore();
    }
  });

  it("counts a message as countMessageTokens does, with the message's own limit", () => {
    const counter = counterOf({});
    const message: ChatMessage = { role: 'user', name: 'ada', content: 'What is the weather like today?' };
    const exact = countMessageTokens(message, info);
    const tokensOf = (counted: number | Steps<number>) => (typeof counted === 'number' ? counted : runWhole(counted));
    expect(tokensOf(counter.message(message, exact, WHOLE))).toBe(exact);
    expect(tokensOf(counter.message(message, 2, WHOLE))).toBeGreaterThan(2);
  });

  it('adds the fixed part and each message, counting no message once the total is past the limit', () => {
    const asked: Array<[string, number]> = [];
    const counter: PromptCounter = {
      fixed: 5,
      // eslint-disable-next-line require-yield
      *message(message, limit) {
        asked.push([message.content as string, limit]);
        return (message.content as string).length;
      },
    };
    const messages: ChatMessage[] = ['abc', 'defgh', 'ij'].map((content) => ({ role: 'user', content }));
    expect(runWhole(countPrompt(messages, counter, 100, WHOLE))).toBe(5 + 3 + 5 + 2);
    expect(asked).toEqual([
      ['abc', 95],
      ['defgh', 92],
      ['ij', 87],
    ]);
    // At the limit after "abc" (8), "defgh" is still counted against what is left (0); past it, "ij" is not.
    asked.length = 0;
    expect(runWhole(countPrompt(messages, counter, 8, WHOLE))).toBe(13);
    expect(asked).toEqual([
      ['abc', 3],
      ['defgh', 0],
    ]);
    asked.length = 0;
    expect(runWhole(countPrompt(messages, { ...counter, fixed: 9 }, 8, WHOLE))).toBe(9);
    expect(asked).toEqual([]);
  });
});

describe('slices', () => {
  /** Work that yields `turns` times, then returns what `slice.due()` says. */
  function* dueAfter(slice: Slice, turns: number): Steps<boolean> {
    for (let turn = 0; turn < turns; turn++) yield;
    return slice.due();
  }

  it('answers work that ends in its first slice at once, without a promise, and longer work with one', async () => {
    expect(runSlicedNow((slice) => dueAfter(slice, 0), 60_000)).toBe(false);
    const later = runSlicedNow((slice) => dueAfter(slice, 2), 60_000);
    expect(later).toBeInstanceOf(Promise);
    await expect(later).resolves.toBe(false);
    await expect(runSliced((slice) => dueAfter(slice, 0), 60_000)).resolves.toBe(false);
  });

  it('is due once the slice is used up, and starts every slice afresh after a turn', async () => {
    expect(runSlicedNow((slice) => dueAfter(slice, 0), -1)).toBe(true);
    await expect(runSliced((slice) => dueAfter(slice, 1), -1)).resolves.toBe(true);
    // A new slice of a minute after each turn: not due however long the first one took.
    await expect(runSliced((slice) => dueAfter(slice, 3), 60_000)).resolves.toBe(false);
  });

  it('gives the event loop a turn between slices', async () => {
    let turned = false;
    setImmediate(() => (turned = true));
    function* sawTurn(): Steps<boolean> {
      yield;
      return turned;
    }
    await expect(runSliced(() => sawTurn())).resolves.toBe(true);
  });

  it('runs whole work without yielding, and a message count looks at the clock after each text', () => {
    expect(runWhole(dueAfter(WHOLE, 3))).toBe(false);
    const message: ChatMessage = { role: 'user', name: 'ada', content: 'Hello there.' };
    const steps = messageTokenSteps(message, modelInfo('gpt-4o'), undefined, { due: () => true });
    // A message with a name is no message of a role and a text: it is counted as work.
    if (typeof steps === 'number') throw new Error('a named message was counted at once');
    let yields = 0;
    for (let step = steps.next(); !step.done; step = steps.next()) yields++;
    // The role, the content and the name: three texts.
    expect(yields).toBe(3);
  });
});

describe('texts remembered between requests', () => {
  /** A text of 4,000 characters that no other call counts. */
  let made = 0;
  const freshText = () => `text ${++made} ` + 'the quick brown fox jumps over the lazy dog '.repeat(90);
  /** Counts `texts` as one request's messages, and says which of them the encoder was asked to count. */
  const countedAfresh = (texts: string[]): string[] => {
    const startCount = jest.spyOn(o200k, 'startCount');
    try {
      countChatTokens(
        texts.map((content) => ({ role: 'user', content })),
        { model: 'gpt-4o' },
      );
      return startCount.mock.calls.map(([text]) => text).filter((text) => texts.includes(text));
    } finally {
      startCount.mockRestore();
    }
  };

  it('keeps a text that every request resends, however much else is counted in between', () => {
    const history = freshText();
    expect(countedAfresh([history])).toEqual([history]);
    // 3 MB of other texts, 160 KB at a time, each time with the history: it is never counted again.
    for (let round = 0; round < 20; round++) {
      const others = Array.from({ length: 40 }, freshText);
      expect(countedAfresh([history, ...others])).toEqual(others);
    }
  });

  it('keeps a text for at least 512 KB of others, and forgets it after 1 MB, so the memory stays bounded', () => {
    const once = freshText();
    countedAfresh([once]);
    for (let round = 0; round < 3; round++) countedAfresh(Array.from({ length: 40 }, freshText));
    expect(countedAfresh([once])).toEqual([]); // ~480 KB later
    for (let round = 0; round < 7; round++) countedAfresh(Array.from({ length: 40 }, freshText));
    expect(countedAfresh([once])).toEqual([once]); // ~1.1 MB later
  });
});
