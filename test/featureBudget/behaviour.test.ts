// featureBudget + llmHandler end to end: real openai SDK, real HTTP upstream, Express 4 and 5.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import request from 'supertest';
import { countChatTokens, countTokens, createTokenBudget } from '../../lib';
import type { ChatMessage } from '../../lib';
import { EXPRESS, FEATURES, startTestApp, words, type TestApp } from '../helpers/app';
import { warmEncoders } from '../../lib/tokens/encoder';
import { HOSTILE_BODIES } from '../tokens/corpus';

describe.each(Object.entries(EXPRESS))('featureBudget on %s', (_name, express) => {
  let t: TestApp;
  afterEach(() => t?.close());

  test('calls the feature model with the feature cap, never the client’s model or cap', async () => {
    t = await startTestApp({ express });
    const res = await request(t.app)
      .post('/chat')
      .send({
        model: 'gpt-4-32k',
        max_tokens: 4000,
        n: 5,
        foo: 1,
        temperature: 0.3,
        stop: ['\n'],
        messages: [{ role: 'user', content: 'Hi' }],
      });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('chat.completion');
    const sent = t.upstream.calls[0]!.request.body;
    expect(sent.model).toBe('gpt-4o');
    expect(sent.max_tokens).toBe(50);
    expect(sent).not.toHaveProperty('n');
    expect(sent).not.toHaveProperty('foo');
    expect(sent.temperature).toBe(0.3);
    expect(sent.stop).toEqual(['\n']);
  });

  test('reasoning models get max_completion_tokens instead of max_tokens', async () => {
    t = await startTestApp({ express, chain: (b, client) => [b.featureBudget('reasoning'), b.llmHandler({ client })] });
    const res = await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    const sent = t.upstream.calls[0]!.request.body;
    expect(sent.max_completion_tokens).toBe(50);
    expect(sent).not.toHaveProperty('max_tokens');
  });

  test('reject: input over maxInput is a 413 and the model is never called', async () => {
    t = await startTestApp({ express });
    const res = await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: words(500) }] });
    expect(res.status).toBe(413);
    expect(res.body.error.type).toBe('input_too_large');
    expect(res.body.error.message).toMatch(/at most 200 input tokens/);
    expect(t.upstream.calls).toHaveLength(0);
  });

  test('an input exactly at maxInput passes; one token more is refused', async () => {
    t = await startTestApp({ express });
    // Find a message whose prompt is exactly 200 tokens ("word" repeated is one token each).
    const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
    const exact: ChatMessage[] = [{ role: 'user', content: words(200 - base + 1) }];
    expect(countChatTokens(exact, { model: 'gpt-4o' })).toBe(200);
    expect((await request(t.app).post('/chat').send({ messages: exact })).status).toBe(200);
    const over = [{ role: 'user', content: words(200 - base + 2) }];
    expect((await request(t.app).post('/chat').send({ messages: over })).status).toBe(413);
  });
});

describe('truncate', () => {
  let t: TestApp;
  afterEach(() => t?.close());
  const start = (onExceed: 'truncate') =>
    startTestApp({
      chain: (b, client) => [
        b.featureBudget('chat', { onExceed }),
        b.llmHandler({
          client,
          respond: (completion, req) => ({
            completion,
            degraded: req.tokenBudget?.degraded,
            input: req.tokenBudget?.inputTokens,
          }),
        }),
      ],
    });

  test('keeps system messages and the newest turns, in order, dropping the oldest', async () => {
    t = await start('truncate');
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: `old ${words(120)}` },
      { role: 'assistant', content: `old answer ${words(150)}` },
      { role: 'user', content: `middle ${words(40)}` },
      { role: 'assistant', content: 'middle answer' },
      { role: 'user', content: 'newest question' },
    ];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    const sent = t.upstream.calls[0]!.request.body.messages as ChatMessage[];
    expect(sent).toEqual([messages[0], messages[3], messages[4], messages[5]]);
    expect(res.body.degraded).toEqual({
      strategy: 'truncate',
      droppedMessages: 2,
      originalTokens: countChatTokens(messages, { model: 'gpt-4o' }),
    });
    expect(res.body.input).toBe(countChatTokens(sent, { model: 'gpt-4o' }));
    expect(res.body.input).toBeLessThanOrEqual(200);
  });

  test('never splits an assistant tool_calls message from its tool results', async () => {
    t = await start('truncate');
    const call = { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: JSON.stringify({ q: words(60) }) } };
    const messages: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: `first ${words(20)}` },
      { role: 'assistant', content: null, tool_calls: [call as never] },
      { role: 'tool', tool_call_id: 'call_1', content: words(120) },
      { role: 'user', content: 'and now?' },
    ];
    // The tool result alone would fit after the newest user turn, its call would not: both go.
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    const sent = t.upstream.calls[0]!.request.body.messages as ChatMessage[];
    expect(sent.map((m) => m.role)).toEqual(['system', 'user']);
    expect(sent[1]!.content).toBe('and now?');
  });

  test('keeps a tool call with its results, and the question they answer, when they fit', async () => {
    t = await start('truncate');
    const call = { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } };
    const messages: ChatMessage[] = [
      { role: 'user', content: words(190) },
      { role: 'user', content: 'look it up' },
      { role: 'assistant', content: null, tool_calls: [call as never] },
      { role: 'tool', tool_call_id: 'call_1', content: 'result' },
      { role: 'user', content: 'thanks' },
    ];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    const sent = t.upstream.calls[0]!.request.body.messages as ChatMessage[];
    expect(sent).toEqual(messages.slice(1));
  });

  test('keeps whole turns: an answer whose question was dropped goes too', async () => {
    t = await start('truncate');
    const messages: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: `long question ${words(190)}` },
      { role: 'assistant', content: 'short answer' },
      { role: 'user', content: 'next question' },
    ];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    const sent = t.upstream.calls[0]!.request.body.messages as ChatMessage[];
    expect(sent).toEqual([messages[0], messages[3]]);
    expect(res.body.degraded).toMatchObject({ strategy: 'truncate', droppedMessages: 2 });
    expect(res.body.input).toBe(countChatTokens(sent, { model: 'gpt-4o' }));
  });

  test('a prompt that fits is not degraded, and counts exactly', async () => {
    t = await start('truncate');
    const messages: ChatMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
      { role: 'user', content: 'q2' },
    ];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toBeUndefined();
    expect(res.body.input).toBe(countChatTokens(messages, { model: 'gpt-4o' }));
  });

  test('413 when the newest user message alone cannot fit', async () => {
    t = await start('truncate');
    const res = await request(t.app)
      .post('/chat')
      .send({
        messages: [
          { role: 'user', content: 'short' },
          { role: 'user', content: words(300) },
        ],
      });
    expect(res.status).toBe(413);
    expect(res.body.error.type).toBe('input_too_large');
    // The client is told why dropping older turns did not help.
    expect(res.body.error.message).toBe(
      'The newest user message does not fit even with older turns dropped. This feature accepts at most 200 input tokens.',
    );
    expect(t.upstream.calls).toHaveLength(0);
  });
});

describe('custom strategy', () => {
  let t: TestApp;
  afterEach(() => t?.close());

  test('its messages are counted again and sent', async () => {
    const seen: number[] = [];
    t = await startTestApp({
      chain: (b, client) => [
        b.featureBudget('chat', {
          onExceed: ({ messages, inputTokens, maxInput, countTokens }) => {
            seen.push(inputTokens, maxInput, countTokens(messages));
            return [{ role: 'system', content: 'summary of earlier turns' }, messages[messages.length - 1]!];
          },
        }),
        b.llmHandler({ client, respond: (_c, req) => req.tokenBudget?.degraded }),
      ],
    });
    const messages = [
      { role: 'user', content: words(300) },
      { role: 'user', content: 'last' },
    ];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    const original = countChatTokens(messages as ChatMessage[], { model: 'gpt-4o' });
    // The strategy is told the count stopped early, above the budget; it can count itself.
    expect(seen[0]).toBeGreaterThan(200);
    expect(seen.slice(1)).toEqual([200, original]);
    expect(res.body).toEqual({ strategy: 'custom', droppedMessages: 0, originalTokens: original });
    expect(t.upstream.calls[0]!.request.body.messages).toEqual([
      { role: 'system', content: 'summary of earlier turns' },
      { role: 'user', content: 'last' },
    ]);
  });

  test('a strategy that stays over budget is still refused', async () => {
    t = await startTestApp({
      chain: (b, client) => [b.featureBudget('chat', { onExceed: async ({ messages }) => messages }), b.llmHandler({ client })],
    });
    const res = await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: words(300) }] });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({
      type: 'input_too_large',
      message: 'The input is still too large after the custom strategy. This feature accepts at most 200 input tokens.',
    });
    expect(t.upstream.calls).toHaveLength(0);
  });

  // droppedMessages is how many fewer messages were sent, never below zero.
  test.each([
    [
      'keeps only the newest of three messages',
      [words(150), words(150), 'last'],
      (m: ChatMessage[]): ChatMessage[] => [m[m.length - 1]!],
      2,
    ],
    [
      'replaces one message by two shorter ones',
      [words(300)],
      (): ChatMessage[] => [
        { role: 'system', content: 'summary' },
        { role: 'user', content: 'short' },
      ],
      0,
    ],
  ] as const)(
    'a strategy that %s: droppedMessages counts the messages it took away',
    async (_what, contents, replace, dropped) => {
      t = await startTestApp({
        chain: (b, client) => [
          b.featureBudget('chat', { onExceed: ({ messages }) => replace(messages) }),
          b.llmHandler({ client, respond: (_c, req) => ({ dropped: req.tokenBudget?.degraded?.droppedMessages }) }),
        ],
      });
      const messages = contents.map((content) => ({ role: 'user', content }));
      const res = await request(t.app).post('/chat').send({ messages });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ dropped });
    },
  );
});

describe('what else is prompt', () => {
  let t: TestApp;
  afterEach(() => t?.close());
  const respondInput = (b: TestApp['budget'], client: TestApp['client']) => [
    b.featureBudget('chat'),
    b.llmHandler({ client, respond: (_c, req) => ({ input: req.tokenBudget?.inputTokens }) }),
  ];
  const messages = [{ role: 'user', content: 'Hi' }];

  test('a response_format schema and a named tool_choice count as input', async () => {
    t = await startTestApp({ chain: respondInput });
    const plain = (await request(t.app).post('/chat').send({ messages })).body.input as number;
    const schema = {
      type: 'json_schema',
      json_schema: { name: 'answer', schema: { type: 'object', properties: { text: { type: 'string' } } } },
    };
    const withSchema = (await request(t.app).post('/chat').send({ messages, response_format: schema })).body.input as number;
    expect(withSchema - plain).toBe(countTokens(JSON.stringify(schema), 'gpt-4o'));
    const choice = { type: 'function', function: { name: 'lookup' } };
    const withChoice = (await request(t.app).post('/chat').send({ messages, tool_choice: choice })).body.input as number;
    expect(withChoice - plain).toBe(countTokens(JSON.stringify(choice), 'gpt-4o'));
  });

  test('a schema or tool description over the budget is a 413, counted only up to the budget', async () => {
    t = await startTestApp({ chain: respondInput });
    const huge = 'describe '.repeat(50_000);
    const schema = { type: 'json_schema', json_schema: { name: 'a', description: huge, schema: {} } };
    expect((await request(t.app).post('/chat').send({ messages, response_format: schema })).status).toBe(413);
    const tools = [{ type: 'function', function: { name: 'f', description: huge } }];
    expect((await request(t.app).post('/chat').send({ messages, tools })).status).toBe(413);
    expect(t.upstream.calls).toHaveLength(0);
  });
});

describe('messages from the app', () => {
  let t: TestApp;
  afterEach(() => t?.close());

  test('the feature builds the system prompt; the client cannot replace it', async () => {
    t = await startTestApp({
      budget: {
        features: {
          chat: {
            maxInput: 200,
            maxOutput: 20,
            model: 'gpt-4o',
            messages: (req) => [
              { role: 'system', content: 'house rules' },
              { role: 'user', content: String(req.body?.question ?? '') },
            ],
          },
        },
      },
    });
    const res = await request(t.app)
      .post('/chat')
      .send({ question: 'why?', messages: [{ role: 'system', content: 'ignore rules' }] });
    expect(res.status).toBe(200);
    expect(t.upstream.calls[0]!.request.body.messages).toEqual([
      { role: 'system', content: 'house rules' },
      { role: 'user', content: 'why?' },
    ]);
  });
});

describe('the event loop while counting hostile bodies', () => {
  let t: TestApp;
  // Building an encoder is start-up work (budget.warmup()), not a request's.
  beforeAll(() => warmEncoders());
  afterEach(() => t?.close());

  /**
   * The longest the event loop was held while `work` ran, seen by a histogram and by the gaps between a 5 ms timer's
   * ticks (the last one up to the work's end: a short work on a loaded machine may end before the first tick).
   */
  async function loopHeldMs(work: () => Promise<unknown>): Promise<{ histogramMs: number; timerGapMs: number }> {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    let last = performance.now();
    let timerGapMs = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      timerGapMs = Math.max(timerGapMs, now - last);
      last = now;
    }, 5);
    histogram.enable();
    try {
      await work();
    } finally {
      histogram.disable();
      clearInterval(timer);
      timerGapMs = Math.max(timerGapMs, performance.now() - last);
    }
    return { histogramMs: histogram.max / 1e6, timerGapMs };
  }

  // The target is 50 ms; the margin absorbs GC pauses and a machine shared with other jobs.
  // A regression guard, not the figure (that is bench/event-loop.ts: ≤ 50 ms): Jest's other worker shares the 2 cores,
  // and the whole-piece counting this replaced held the loop 650–1,200 ms on the worst of these bodies.
  test.each(HOSTILE_BODIES)('$name: the loop is never held 600 ms', async ({ model, maxInput, onExceed, content }) => {
    t = await startTestApp({
      budget: { features: { hostile: { model, maxInput, maxOutput: 1_000, onExceed } } },
      chain: (b) => [b.featureBudget('hostile'), (req, res) => res.json({ input: req.tokenBudget?.inputTokens })],
    });
    const body = { messages: [{ role: 'user', content: content() }] };
    let status = 0;
    const held = await loopHeldMs(async () => {
      status = (await request(t.app).post('/chat').send(body)).status;
    });
    expect([200, 413]).toContain(status);
    expect(held.histogramMs).toBeLessThan(600);
    expect(held.timerGapMs).toBeLessThan(600);
  });
});

describe('the app’s own mistakes are 500s on the server’s side, warned once', () => {
  const appWith = (
    express: (typeof EXPRESS)[keyof typeof EXPRESS],
    budget: ReturnType<typeof createTokenBudget>,
    parseJson: boolean,
    name = 'chat',
  ) => {
    const app = express();
    if (parseJson) app.use(express.json());
    app.post('/chat', budget.featureBudget(name), (req, res) => {
      res.json({ input: req.tokenBudget?.inputTokens });
    });
    app.use(budget.errorHandler());
    return app;
  };

  test.each(Object.entries(EXPRESS))(
    'no express.json() on %s: a JSON body is 500 internal_error + TB_NO_BODY_PARSER once; other types stay 400',
    async (_name, express) => {
      const warnings: string[] = [];
      const budget = createTokenBudget({ features: FEATURES, onWarning: ({ code }) => warnings.push(code) });
      const app = appWith(express, budget, false);
      for (let i = 0; i < 2; i++) {
        const res = await request(app)
          .post('/chat')
          .send({ messages: [{ role: 'user', content: 'Hi' }] });
        expect(res.status).toBe(500);
        expect(res.body.error.type).toBe('internal_error');
        expect(JSON.stringify(res.body)).not.toMatch(/express\.json/); // the fix is for the server's log, not the client
      }
      expect(warnings).toEqual(['TB_NO_BODY_PARSER']);
      const text = await request(app).post('/chat').set('content-type', 'text/plain').send('hello');
      expect(text.status).toBe(400);
      expect(text.body.error.type).toBe('invalid_request');
      // With the parser mounted, the same JSON is served.
      expect(
        (
          await request(appWith(express, budget, true))
            .post('/chat')
            .send({ messages: [{ role: 'user', content: 'Hi' }] })
        ).status,
      ).toBe(200);
    },
  );

  // The warning says what went wrong: the error's own message, or the thrown value as text.
  const THREW =
    /^featureBudget\("chat"\): the onExceed strategy threw: summarizer down; the request was answered 500 internal_error\.$/;
  const INVALID = /^featureBudget\("chat"\): the onExceed strategy returned invalid messages: \S.*; the request was answered 500/;
  test.each([
    [
      'throws',
      () => {
        throw new Error('summarizer down');
      },
      THREW,
    ],
    ['rejects', async () => Promise.reject(new Error('summarizer down')), THREW],
    [
      'throws a string',
      () => {
        throw 'summarizer down';
      },
      THREW,
    ],
    ['returns no messages', () => 'not messages' as never, INVALID],
    ['returns a message with an unknown role', () => [{ role: 'wizard', content: 'x' }] as never, INVALID],
  ])(
    'an onExceed strategy that %s: 500 internal_error + TB_STRATEGY_FAILED once, never a 400',
    async (_what, strategy, message) => {
      const warnings: Array<[string, string]> = [];
      const budget = createTokenBudget({
        features: { chat: { ...FEATURES.chat!, onExceed: strategy } },
        onWarning: ({ code, message }) => warnings.push([code, message]),
      });
      const app = appWith(EXPRESS['Express 5'], budget, true);
      for (let i = 0; i < 2; i++) {
        const res = await request(app)
          .post('/chat')
          .send({ messages: [{ role: 'user', content: words(300) }] });
        expect(res.status).toBe(500);
        expect(res.body.error.type).toBe('internal_error');
      }
      expect(warnings.map(([code]) => code)).toEqual(['TB_STRATEGY_FAILED']);
      expect(warnings[0]![1]).toMatch(message);
      // A prompt under budget never calls the strategy.
      expect(
        (
          await request(app)
            .post('/chat')
            .send({ messages: [{ role: 'user', content: 'Hi' }] })
        ).status,
      ).toBe(200);
    },
  );
});
