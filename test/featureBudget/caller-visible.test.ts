// featureBudget as a caller sees it: refusal and option messages, bodiless requests, Responses bodies, shadow mode, and what it warns at the end of a request.
import express from 'express';
import request from 'supertest';
import { countChatTokens, createTokenBudget, type ChatMessage } from '../../lib';
import type { BudgetWarning, ShadowEvent, TokenBudgetOptions } from '../../lib/types';
import { FEATURES, words } from '../helpers/app';

const DAILY = { chat: { ...FEATURES.chat, dailyTokens: 10_000 } } satisfies TokenBudgetOptions['features'];

interface Recorded {
  warnings: BudgetWarning[];
  events: ShadowEvent[];
}

/** A budget that records its warnings and shadow events. */
function recordingBudget(options: Partial<TokenBudgetOptions> = {}) {
  const recorded: Recorded = { warnings: [], events: [] };
  const budget = createTokenBudget({
    features: FEATURES,
    onWarning: (warning) => recorded.warnings.push(warning),
    onShadow: (event) => recorded.events.push(event),
    onStoreError: () => {},
    ...options,
  });
  return { budget, recorded };
}

/** An app whose POST /chat runs `middleware`, then answers with what featureBudget put on the request. */
function echoApp(middleware: express.RequestHandler, { json = true, strict = true } = {}) {
  const app = express();
  if (json) app.use(express.json({ strict }));
  app.post('/chat', middleware, (req, res) => {
    const context = req.tokenBudget!;
    res.json({ inputTokens: context.inputTokens, messages: context.messages, api: context.api });
  });
  return app;
}

/** A prompt of exactly `tokens` tokens for gpt-4o ("word" repeated is one token each). */
function promptOf(tokens: number): ChatMessage[] {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  const messages: ChatMessage[] = [{ role: 'user', content: words(tokens - base + 1) }];
  expect(countChatTokens(messages, { model: 'gpt-4o' })).toBe(tokens);
  return messages;
}

describe('refusals and warnings say what happened', () => {
  test('an input over maxInput is refused with the documented message', async () => {
    const { budget } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat'));
    app.use(budget.errorHandler());
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: words(500) }] });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toBe('The input is too large. This feature accepts at most 200 input tokens.');
  });

  test("a custom strategy's messages of exactly maxInput tokens are admitted", async () => {
    const { budget } = recordingBudget();
    const exact = promptOf(200);
    const app = echoApp(budget.featureBudget('chat', { onExceed: () => exact }));
    app.use(budget.errorHandler());
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: words(500) }] });
    expect(res.status).toBe(200);
    expect(res.body.inputTokens).toBe(200);
  });

  test('a JSON body no parser read is warned with the fix: mount a body parser', async () => {
    const { budget, recorded } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat'), { json: false });
    app.use(budget.errorHandler());
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(500);
    expect(recorded.warnings).toHaveLength(1);
    expect(recorded.warnings[0]!.code).toBe('TB_NO_BODY_PARSER');
    expect(recorded.warnings[0]!.message).toMatch(/^featureBudget received a JSON body that no parser has read.*mount /);
  });

  test('an unknown feature is a configuration error naming the known ones', () => {
    const { budget } = recordingBudget();
    expect(() => budget.featureBudget('nope')).toThrow(
      expect.objectContaining({
        code: 'TB_UNKNOWN_FEATURE',
        message: expect.stringContaining('featureBudget("nope"): no such feature; known: chat, reasoning.'),
      }),
    );
  });

  test.each([
    ['onExceed', { onExceed: 'bogus' }, /featureBudget\("chat"\)\.onExceed/],
    ['messages', { messages: 'bogus' }, /featureBudget\("chat"\)\.messages/],
    ['mode', { mode: 'bogus' }, /featureBudget\("chat"\)\.mode/],
    ['errors', { errors: 'bogus' }, /featureBudget\("chat"\)/],
    ['onExceed: summarize without a summarizer', { onExceed: 'summarize' }, /featureBudget\("chat"\)/],
  ])('a wrong %s is named in the configuration error', (_option, options, named) => {
    const { budget } = recordingBudget();
    expect(() => budget.featureBudget('chat', options as never)).toThrow(named);
  });
});

describe("messages from the app's own source", () => {
  const fromApp = async () => [{ role: 'user' as const, content: 'Hi from the app' }];

  test('a request without a body is served from the source', async () => {
    const { budget } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat', { messages: fromApp }), { json: false });
    app.use(budget.errorHandler());
    const res = await request(app).post('/chat');
    expect(res.status).toBe(200);
    expect(res.body.messages).toEqual([{ role: 'user', content: 'Hi from the app' }]);
  });

  test('a JSON null body is served from the source', async () => {
    const { budget } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat', { messages: fromApp }), { strict: false });
    app.use(budget.errorHandler());
    const res = await request(app).post('/chat').set('content-type', 'application/json').send('null');
    expect(res.status).toBe(200);
    expect(res.body.messages).toEqual([{ role: 'user', content: 'Hi from the app' }]);
  });

  test("the client's body still gives the parameters forwarded beside the source's messages", async () => {
    const { budget } = recordingBudget();
    const app = express();
    app.use(express.json());
    app.post('/chat', budget.featureBudget('chat', { messages: fromApp }), (req, res) => {
      res.json({ temperature: req.tokenBudget!.forwardParams.temperature });
    });
    const res = await request(app)
      .post('/chat')
      .send({ temperature: 0.3, messages: [{ role: 'user', content: 'ignored' }] });
    expect(res.status).toBe(200);
    expect(res.body.temperature).toBe(0.3);
  });
});

describe('the API of the body', () => {
  test('a Responses body (input) is counted as its messages and marked as a Responses request', async () => {
    const { budget } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat'));
    app.use(budget.errorHandler());
    const res = await request(app).post('/chat').send({ input: 'Hi there' });
    expect(res.status).toBe(200);
    expect(res.body.api).toBe('responses');
    expect(res.body.messages).toEqual([{ role: 'user', content: 'Hi there' }]);
  });

  test('a chat completions body is marked as chat', async () => {
    const { budget } = recordingBudget();
    const app = echoApp(budget.featureBudget('chat'));
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.body.api).toBe('chat');
  });
});

describe('shadow mode', () => {
  test('an input over maxInput is served whole, counted to its end, and recorded as the refusal it would have been', async () => {
    const { budget, recorded } = recordingBudget({ mode: 'shadow' });
    const app = echoApp(budget.featureBudget('chat'));
    const messages = [{ role: 'user' as const, content: words(500) }];
    const res = await request(app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    expect(res.body.inputTokens).toBe(countChatTokens(messages, { model: 'gpt-4o' }));
    expect(res.body.messages).toEqual(messages);
    expect(recorded.events).toEqual([expect.objectContaining({ action: 'refuse', code: 'input_too_large', feature: 'chat' })]);
  });

  test('an input of exactly maxInput tokens records nothing', async () => {
    const { budget, recorded } = recordingBudget({ mode: 'shadow' });
    const app = echoApp(budget.featureBudget('chat'));
    const res = await request(app)
      .post('/chat')
      .send({ messages: promptOf(200) });
    expect(res.status).toBe(200);
    expect(res.body.inputTokens).toBe(200);
    expect(recorded.events).toEqual([]);
  });

  test('an input within maxInput records nothing', async () => {
    const { budget, recorded } = recordingBudget({ mode: 'shadow' });
    const app = echoApp(budget.featureBudget('chat'));
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    expect(recorded.events).toEqual([]);
  });

  test('a featureBudget enforced under a shadow budget still refuses', async () => {
    const { budget, recorded } = recordingBudget({ mode: 'shadow' });
    const app = echoApp(budget.featureBudget('chat', { mode: 'enforce' }));
    app.use(budget.errorHandler());
    const res = await request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: words(500) }] });
    expect(res.status).toBe(413);
    expect(recorded.events).toEqual([]);
  });
});

describe('the end of a request that declared a budget', () => {
  /** Answers `status` without ever reserving the feature's daily budget. */
  const unreservedApp = (budget: ReturnType<typeof recordingBudget>['budget'], status: number) => {
    const app = express();
    app.use(express.json());
    app.post('/chat', budget.featureBudget('chat'), (_req, res) => {
      res.status(status).json({});
    });
    return app;
  };
  const send = (app: express.Express) =>
    request(app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });

  test('served without reserving: TB_NOT_RESERVED is warned', async () => {
    const { budget, recorded } = recordingBudget({ features: DAILY });
    expect((await send(unreservedApp(budget, 200))).status).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(recorded.warnings.map((w) => w.code)).toEqual(['TB_NOT_RESERVED']);
  });

  test.each([400, 404, 500])('answered %i without reserving: nothing is warned', async (status) => {
    const { budget, recorded } = recordingBudget({ features: DAILY });
    expect((await send(unreservedApp(budget, status))).status).toBe(status);
    await new Promise((resolve) => setImmediate(resolve));
    expect(recorded.warnings).toEqual([]);
  });

  test('a reservation whose release fails at the end is warned as TB_RELEASE_FAILED', async () => {
    const { budget, recorded } = recordingBudget({ features: DAILY });
    // A release settles the reservation at zero: the store's settle is what fails.
    const store = budget.store as unknown as { settle: (...args: unknown[]) => Promise<unknown> };
    store.settle = () => Promise.reject(new Error('store gone'));
    const app = express();
    app.use(express.json());
    app.post('/chat', budget.featureBudget('chat'), async (req, res) => {
      await req.tokenBudget!.reserve();
      res.status(500).json({});
    });
    expect((await send(app)).status).toBe(500);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const released = recorded.warnings.filter((w) => w.code === 'TB_RELEASE_FAILED');
    expect(released).toHaveLength(1);
    expect(released[0]!.message).toMatch(/^Releasing a reservation failed: .*store gone/);
  });
});
