// What a hostile client sends: fast-check arbitraries of request bodies, raw bytes and encodings included.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { seededRandom } from './harness';

/** One request as it goes on the wire. */
export interface HostileRequest {
  route: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
  /** What the body is, for reports. */
  label: string;
}

export const ROUTES = ['/chat', '/trunc', '/big'] as const;
/** The body limit of the app under test (express.json({ limit: '1mb' })). */
export const BODY_LIMIT = 1024 * 1024;

/** Characters and runs that tokenizers handle badly, and what the early exits could miss. */
const PIECES = [
  ' ',
  '\t',
  ' \t',
  '\n',
  '-*=',
  '=',
  'a',
  'ab',
  '1',
  '9 ',
  '.,',
  '字',
  '😀',
  '\u0301',
  '\ud800',
  'é',
  '<|endoftext|>',
];

/** A long run of one piece, or random letters: from a few KB up to just under the body limit. */
const bigText = fc
  .record({
    piece: fc.constantFrom(...PIECES, 'random-letters'),
    bytes: fc.integer({ min: 4_000, max: 980_000 }),
    seed: fc.integer(),
  })
  .map(({ piece, bytes, seed }) => {
    if (piece === 'random-letters') {
      const random = seededRandom(seed);
      return Array.from({ length: bytes }, () => String.fromCharCode(97 + random.int(0, 25))).join('');
    }
    // Byte size of the JSON text: escapes and UTF-8 make some pieces longer on the wire.
    const wire = Buffer.byteLength(JSON.stringify(piece)) - 2;
    return piece.repeat(Math.max(1, Math.floor(bytes / wire)));
  });

const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 400 }));

const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text: anyText }),
  fc.record({
    type: fc.constant('image_url'),
    image_url: fc.record(
      { url: fc.oneof(fc.webUrl(), fc.string()), detail: fc.oneof(fc.constantFrom('low', 'high', 'auto'), fc.string()) },
      { requiredKeys: [] },
    ),
  }),
  fc.record(
    { type: fc.oneof(fc.string(), fc.constantFrom('input_audio', 'file', 'refusal')), text: fc.jsonValue() },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

const toolCall = fc.record(
  {
    id: fc.oneof(fc.string(), fc.integer()),
    type: fc.oneof(fc.constant('function'), fc.string()),
    function: fc.record(
      { name: fc.oneof(fc.string(), fc.jsonValue()), arguments: fc.oneof(fc.string(), fc.json(), fc.jsonValue()) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const message = fc.record(
  {
    role: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
    ),
    content: fc.oneof(
      { weight: 6, arbitrary: anyText },
      fc.array(part, { maxLength: 5 }),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    name: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    tool_calls: fc.oneof(fc.array(toolCall, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
    tool_call_id: fc.oneof(fc.string(), fc.integer()),
    refusal: fc.oneof(fc.string(), fc.constant(null)),
  },
  { requiredKeys: ['role', 'content'] },
);

const tool = fc.oneof(
  fc.record({
    type: fc.constant('function'),
    function: fc.record(
      { name: fc.string(), description: anyText, parameters: fc.jsonValue({ maxDepth: 6 }), strict: fc.boolean() },
      { requiredKeys: ['name'] },
    ),
  }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Parameters a client may try to set, with any value. */
const PARAMS = [
  'model',
  'max_tokens',
  'max_completion_tokens',
  'n',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'user',
  'safety_identifier',
  'seed',
  'stop',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'tool_choice',
  'response_format',
  'parallel_tool_calls',
  'reasoning_effort',
  'frequency_penalty',
  'presence_penalty',
  '__proto__',
  'constructor',
];
const params = fc.dictionary(
  fc.oneof(fc.constantFrom(...PARAMS), fc.string()),
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), anyText),
  { maxKeys: 4 },
);

/** One huge piece where a tokenizer or a counter could stall: a message, a tool-call id, name or arguments, a tool result. */
const bigBody = fc
  .record({
    text: bigText,
    where: fc.constantFrom('content', 'system', 'tool-call-id', 'tool-name', 'tool-arguments', 'tool-result', 'part'),
  })
  .map(({ text, where }) => {
    const call = (patch: Record<string, string>) => ({
      id: 'call_1',
      type: 'function',
      function: { name: 'lookup', arguments: '{}' },
      ...patch,
    });
    const asked = { role: 'user', content: 'Look it up.' };
    switch (where) {
      case 'content':
        return { messages: [{ role: 'user', content: text }] };
      case 'system':
        return {
          messages: [
            { role: 'system', content: text },
            { role: 'user', content: 'Hi' },
          ],
        };
      case 'part':
        return { messages: [{ role: 'user', content: [{ type: 'text', text }] }] };
      case 'tool-result':
        return {
          messages: [
            asked,
            { role: 'assistant', content: null, tool_calls: [call({})] },
            { role: 'tool', tool_call_id: 'call_1', content: text },
          ],
        };
      default: {
        const patched =
          where === 'tool-call-id'
            ? call({ id: text })
            : {
                ...call({}),
                function: where === 'tool-name' ? { name: text, arguments: '{}' } : { name: 'lookup', arguments: text },
              };
        return {
          messages: [asked, { role: 'assistant', content: null, tool_calls: [patched] }, { role: 'user', content: 'And?' }],
        };
      }
    }
  });

const chatBody = fc
  .record(
    {
      messages: fc.oneof(
        { weight: 8, arbitrary: fc.array(message, { minLength: 1, maxLength: 6 }) },
        fc.jsonValue({ maxDepth: 2 }),
      ),
      tools: fc.oneof(fc.array(tool, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
      extra: params,
    },
    { requiredKeys: ['messages'] },
  )
  .map(({ extra, ...body }) => ({ ...extra, ...body }));

/** Bytes that are not a JSON body, or are one wrapped in something broken. */
const rawBody = fc.oneof(
  fc.record({ kind: fc.constant('not-json' as const), text: fc.string({ unit: 'binary', maxLength: 300 }) }),
  fc.record({ kind: fc.constant('cut-json' as const), text: fc.json({ maxDepth: 4 }) }),
  fc.record({ kind: fc.constant('deep' as const), depth: fc.integer({ min: 1_000, max: 200_000 }) }),
  fc.record({
    kind: fc.constant('encoding' as const),
    encoding: fc.constantFrom('gzip', 'deflate', 'br', 'x-unknown', 'gzip, gzip'),
    bytes: fc.uint8Array({ maxLength: 200 }),
  }),
  fc.record({ kind: fc.constant('valid-gzip' as const), text: fc.json({ maxDepth: 3 }) }),
  fc.record({
    kind: fc.constant('charset' as const),
    charset: fc.constantFrom('latin1', 'utf-16', 'ebcdic', 'utf-8', 'x'),
    text: fc.json({ maxDepth: 2 }),
  }),
  fc.record({ kind: fc.constant('oversized' as const), bytes: fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT + 100_000 }) }),
);

type Raw = typeof rawBody extends fc.Arbitrary<infer T> ? T : never;

function rawRequest(raw: Raw): Pick<HostileRequest, 'headers' | 'body' | 'label'> {
  const json = { 'content-type': 'application/json' };
  switch (raw.kind) {
    case 'not-json':
      return { headers: json, body: raw.text, label: 'not JSON' };
    case 'cut-json':
      return { headers: json, body: raw.text.slice(0, Math.max(0, raw.text.length - 1)), label: 'cut JSON' };
    case 'deep':
      return { headers: json, body: '['.repeat(raw.depth) + ']'.repeat(raw.depth), label: `nested ${raw.depth} deep` };
    case 'encoding':
      return { headers: { ...json, 'content-encoding': raw.encoding }, body: raw.bytes, label: `corrupt ${raw.encoding}` };
    case 'valid-gzip':
      return { headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync(raw.text), label: 'gzip JSON' };
    case 'charset':
      return {
        headers: { 'content-type': `application/json; charset=${raw.charset}` },
        body: raw.text,
        label: `charset ${raw.charset}`,
      };
    case 'oversized':
      return {
        headers: json,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'a'.repeat(raw.bytes) }] }),
        label: 'over the limit',
      };
  }
}

/** Hostile requests: mostly chat-shaped bodies, then any JSON, then raw bytes. */
export const hostileRequest: fc.Arbitrary<HostileRequest> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    user: fc.option(fc.constantFrom('alice', 'bob', 7), { freq: 10 }),
    body: fc.oneof(
      { weight: 60, arbitrary: chatBody.map((b) => ({ json: b as unknown })) },
      { weight: 2, arbitrary: bigBody.map((b) => ({ json: b as unknown })) },
      { weight: 10, arbitrary: fc.jsonValue().map((b) => ({ json: b as unknown })) },
      { weight: 10, arbitrary: rawBody.map((raw) => ({ raw })) },
    ),
  })
  .map(({ route, user, body }) => {
    const userHeader: Record<string, string> = user === null ? {} : { 'x-user-json': encodeUserId(user) };
    if ('raw' in body) {
      const raw = rawRequest(body.raw);
      return { route, headers: { ...raw.headers, ...userHeader }, body: raw.body, label: raw.label };
    }
    const text = JSON.stringify(body.json);
    return {
      route,
      headers: { 'content-type': 'application/json', ...userHeader },
      body: text,
      label: `JSON of ${text.length} chars`,
    };
  });

/** The test app's sign-in: the user id travels as base64url JSON, so that any string or number can be an id. */
export const encodeUserId = (id: string | number) => Buffer.from(JSON.stringify(id)).toString('base64url');
export const decodeUserId = (header: string | undefined): string | number | undefined => {
  if (header === undefined) return undefined;
  const id: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
};
