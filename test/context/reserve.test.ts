// The budget context up to its reservation: declare, the store's answers, the observer, the downgrade and the summary written first.
import { type CallObserver, type CallSettings, type ReserveOutcome } from '../../lib/context';
import { memoryStore } from '../../lib';
import type { DowngradeStep, SummarizerConfig } from '../../lib/degrade/options';
import type { SummaryPlan } from '../../lib/degrade/summarize';
import type { Degradation } from '../../lib/call';
import type { ChatMessage } from '../../lib/messages';
import { BudgetRefusal } from '../../lib/refusal';
import { featureScopeKey } from '../../lib/store/keys';
import type { ReserveRequest, ScopeRequest, Store, TokenWeights } from '../../lib/store/types';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import { requireModel } from '../../lib/tokens/models';
import type { ShadowEvent } from '../../lib/types';
import { chatContext, feature, window } from './scopes';

/** A money scope: 2 nano-USD a token. */
const spend: ScopeRequest = {
  kind: 'spend',
  key: 's:{chat}',
  limit: 1_000_000,
  onUnavailable: 'fail-closed',
  window,
  weights: { input: 2, cachedInput: 2, output: 2 },
};

interface Setup {
  store?: Store;
  calls?: Partial<CallSettings>;
  scopes?: ScopeRequest[];
  observer?: CallObserver;
  onShadow?: (event: ShadowEvent) => void;
  downgrade?: { steps: readonly DowngradeStep[]; shadow: boolean };
  summary?: SummaryPlan;
  messages?: ChatMessage[];
  degraded?: Degradation;
}

/** A context of feature "chat" on gpt-4o: 10 input tokens, a 50-token cap, the feature's budget of 1000 unless `scopes` says. */
function context(setup: Setup = {}) {
  const { store = memoryStore(), scopes = [feature], messages = [{ role: 'user', content: 'hi' }], ...init } = setup;
  const warn = jest.fn();
  const ctx = chatContext({ ...init, store, warn, messages }, scopes);
  return { ctx, store, warn };
}

/** A store whose `reserve` fails with `error`; its other methods are the memory store's. */
const failingStore = (error: Error): Store => ({ ...memoryStore(), reserve: () => Promise.reject(error) });

/** An observer that notes what `reserved` was told. */
function reservations() {
  const heard: { outcome: ReserveOutcome; durationMs: number; granted: boolean }[] = [];
  const observer: CallObserver = {
    active: true,
    reserved: (_context, outcome, durationMs, reservation) => void heard.push({ outcome, durationMs, granted: !!reservation }),
    ended: () => {},
  };
  return { observer, heard };
}

describe('reserve', () => {
  it('grants a request with no budgets its cap without asking the store', async () => {
    const { ctx } = context({ scopes: [], store: failingStore(new StoreUnavailableError('down')) });
    expect(await ctx.reserve()).toBe(50);
    expect(ctx.state).toBe('reserved');
  });

  it('leases the reservation for the call time-out plus the lease margin', async () => {
    const asked: ReserveRequest[] = [];
    const memory = memoryStore();
    const store: Store = { ...memory, reserve: (request) => (asked.push(request), memory.reserve(request)) };
    await context({ store }).ctx.reserve(5000);
    await context({ store }).ctx.reserve();
    expect(asked.map((request) => request.leaseMs)).toEqual([6000, 61_000]);
  });

  it('refuses for a store outage with 503 budget_unavailable and Retry-After 1, and tells the observer', async () => {
    const { observer, heard } = reservations();
    const { ctx } = context({ store: failingStore(new StoreUnavailableError('down')), observer });
    const before = performance.now();
    const refusal = await ctx.reserve().catch((err: unknown) => err);
    const took = performance.now() - before;
    expect(refusal).toBeInstanceOf(BudgetRefusal);
    expect(refusal).toMatchObject({
      type: 'budget_unavailable',
      status: 503,
      message: 'Token budgets cannot be checked right now; retry shortly.',
      headers: { 'Retry-After': '1' },
    });
    expect(ctx.state).toBe('refused');
    expect(heard).toEqual([{ outcome: 'unavailable', durationMs: expect.any(Number), granted: false }]);
    expect(heard[0]!.durationMs).toBeLessThanOrEqual(took);
  });

  it('throws any other store error as it is, and tells the observer the reservation failed', async () => {
    const { observer, heard } = reservations();
    const bug = new TypeError('a bug in the store');
    const { ctx } = context({ store: failingStore(bug), observer });
    await expect(ctx.reserve()).rejects.toBe(bug);
    expect([ctx.state, heard.map(({ outcome }) => outcome)]).toEqual(['refused', ['failed']]);
  });

  it('tells the observer of a grant and of a refusal, with how long the store took', async () => {
    const { observer, heard } = reservations();
    const store = memoryStore();
    const granted = context({ store, observer });
    const before = performance.now();
    await granted.ctx.reserve();
    const took = performance.now() - before;
    const refused = context({ store, observer, scopes: [{ ...feature, key: featureScopeKey('tiny'), limit: 5 }] });
    await expect(refused.ctx.reserve()).rejects.toBeInstanceOf(BudgetRefusal);
    expect(refused.ctx.state).toBe('refused');
    expect(heard).toEqual([
      { outcome: 'granted', durationMs: expect.any(Number), granted: true },
      { outcome: 'refused', durationMs: expect.any(Number), granted: false },
    ]);
    expect(heard[0]!.durationMs).toBeLessThanOrEqual(took);
  });

  it('after the call, reports each budget at what it was charged, in its own unit', async () => {
    const { ctx } = context({ scopes: [feature, spend] });
    await ctx.reserve();
    await ctx.settle({ prompt_tokens: 10, completion_tokens: 5 });
    expect(ctx.scopeStates).toMatchObject([
      { key: feature.key, used: 15, remaining: 985 },
      { key: spend.key, used: 30, remaining: 999_970 },
    ]);
  });
});

describe('declare', () => {
  it('refuses a budget declared after the reservation was taken', async () => {
    const { ctx } = context();
    await ctx.reserve();
    expect(() => ctx.declare(spend)).toThrow('token-budget: a spend budget was declared after the reservation was taken');
  });
});

describe('the context as the app reads it', () => {
  it('is a chat call unless told otherwise, with nothing shadowed and no budget figures before the reservation', () => {
    const { ctx } = context();
    expect([ctx.api, ctx.shadowed, ctx.scopeStates]).toEqual(['chat', [], []]);
  });

  it('tells listeners the model the reply names, and none when the reply names none as text', async () => {
    const models: (string | undefined)[] = [];
    for (const model of ['gpt-4o-2024-08-06', 42]) {
      const { ctx } = context();
      ctx.afterSettle((call) => models.push(call.responseModel));
      await ctx.run(async () => ({ model, usage: { total_tokens: 12 } }));
    }
    expect(models).toEqual(['gpt-4o-2024-08-06', undefined]);
  });

  it('run() passes a stream on chunk by chunk and settles it at its usage chunk', async () => {
    const { ctx, store } = context();
    const chunks = [{ choices: [{ index: 0, delta: { content: 'ok' } }] }, { choices: [], usage: { total_tokens: 21 } }];
    const stream = await ctx.run(async () =>
      (async function* () {
        yield* chunks;
      })(),
    );
    const read: unknown[] = [];
    for await (const chunk of stream) read.push(chunk);
    expect(read).toEqual(chunks);
    expect((await store.usage(feature)).used).toBe(21);
  });
});

describe('shadow events', () => {
  const event: ShadowEvent = {
    action: 'refuse',
    code: 'feature_quota_exceeded',
    feature: 'chat',
    scope: 'feature',
    message: 'm',
  };

  it('are recorded quietly when nobody listens', () => {
    const { ctx, warn } = context();
    ctx.recordShadow(event);
    expect([ctx.shadowed, warn.mock.calls]).toEqual([[event], []]);
  });

  it('a listener that throws is reported as TB_LISTENER_FAILED; the event is still recorded', () => {
    const { ctx, warn } = context({
      onShadow: () => {
        throw new Error('log full');
      },
    });
    ctx.recordShadow(event);
    expect(ctx.shadowed).toEqual([event]);
    expect(warn).toHaveBeenCalledWith('TB_LISTENER_FAILED', 'onShadow threw: Error: log full');
  });
});

describe('the downgrade', () => {
  const toMini: DowngradeStep = {
    model: 'gpt-4o-mini',
    modelInfo: requireModel('gpt-4o-mini'),
    maxOutput: 40,
    when: { remainingTokensBelow: 500 },
  };
  /** The feature's budget with `used` of its 1000 tokens taken. */
  async function storeWith(used: number) {
    const store = memoryStore();
    const taken = await store.reserve({ scopes: [feature], input: used, maxOutput: 0 });
    if (!taken.ok) throw new Error('setup');
    await store.settle(taken.reservation, used);
    return store;
  }

  it('leaves a call whose budgets are not low on the feature model', async () => {
    const { ctx } = context({ store: await storeWith(100), downgrade: { steps: [toMini], shadow: false } });
    await ctx.reserve();
    expect([ctx.callParams().model, ctx.degraded]).toEqual(['gpt-4o', undefined]);
  });

  it('sends a call whose budget ran low to the cheaper model, capped as that model', async () => {
    const { ctx } = context({ store: await storeWith(600), downgrade: { steps: [toMini], shadow: false } });
    expect(await ctx.reserve()).toBe(40);
    expect(ctx.callParams().model).toBe('gpt-4o-mini');
    expect(ctx.degraded).toMatchObject({ strategy: 'downgrade', downgrade: { from: 'gpt-4o', to: 'gpt-4o-mini' } });
  });

  it('keeps the record of a truncation that came first, and adds the downgrade to it', async () => {
    const truncated: Degradation = { strategy: 'truncate', droppedMessages: 2, originalTokens: 80 };
    const { ctx } = context({ store: await storeWith(600), degraded: truncated, downgrade: { steps: [toMini], shadow: false } });
    await ctx.reserve();
    expect(ctx.degraded).toMatchObject({ strategy: 'truncate', droppedMessages: 2, downgrade: { to: 'gpt-4o-mini' } });
  });

  it("prices a downgraded call's money at the cheaper model's prices, and leaves them without a cost meter's prices", async () => {
    const store = await storeWith(600);
    const priced = context({ store, scopes: [feature, spend], downgrade: { steps: [toMini], shadow: false } });
    priced.ctx.weighSpendWith((model) => (model === 'gpt-4o-mini' ? { input: 3, cachedInput: 3, output: 3 } : spend.weights!));
    await priced.ctx.reserve();
    await priced.ctx.settle({ prompt_tokens: 10, completion_tokens: 5 });
    expect((await store.usage(spend)).used).toBe(45);

    const unpriced = context({
      store: await storeWith(600),
      scopes: [feature, spend],
      downgrade: { steps: [toMini], shadow: false },
    });
    await unpriced.ctx.reserve();
    await unpriced.ctx.settle({ prompt_tokens: 10, completion_tokens: 5 });
    expect((await unpriced.store.usage(spend)).used).toBe(30);
  });

  it('in shadow mode only says what it would have done', async () => {
    const { ctx } = context({ store: await storeWith(600), downgrade: { steps: [toMini], shadow: true } });
    await ctx.reserve();
    expect(ctx.callParams().model).toBe('gpt-4o');
    expect(ctx.shadowed).toMatchObject([{ action: 'degrade', code: 'downgrade' }]);
  });
});

describe('the summary written before the reservation', () => {
  const older: ChatMessage[] = [
    { role: 'user', content: 'What did we decide about the launch date?' },
    { role: 'assistant', content: 'We moved it to the first of March.' },
  ];
  const kept: ChatMessage[] = [{ role: 'user', content: 'And the budget?' }];
  const truncated: Degradation = { strategy: 'truncate', droppedMessages: 2, originalTokens: 80 };
  const reply = (content: string, usage: unknown = { prompt_tokens: 40, completion_tokens: 6 }) => ({
    choices: [{ message: { role: 'assistant', content } }],
    usage,
  });

  /** A summary plan whose summarizer answers with `create`; the feature counts any messages as `tokensAfter`. */
  function plan(create: jest.Mock, summarizer: Partial<SummarizerConfig> = {}, tokensAfter = 30): SummaryPlan {
    return {
      summarizer: {
        client: { chat: { completions: { create } } },
        model: 'gpt-4o-mini',
        modelInfo: requireModel('gpt-4o-mini'),
        maxInput: 1000,
        maxOutput: 20,
        prompt: 'Summarize.',
        timeoutMs: 5000,
        fallback: 'truncate',
        cache: undefined,
        ...summarizer,
      },
      older,
      kept,
      count: async () => tokensAfter,
      maxInput: 30,
    };
  }
  const summarized = (setup: Setup & { summary: SummaryPlan }) => context({ messages: kept, degraded: truncated, ...setup });

  it('replaces the oldest turns when the summary fits the feature’s input, and keeps the truncation when it does not', async () => {
    const fits = summarized({
      summary: plan(
        jest.fn(async () => reply('Launch: 1 March.')),
        {},
        30,
      ),
    });
    await fits.ctx.reserve();
    expect(fits.ctx.degraded?.strategy).toBe('summarize');
    expect(fits.ctx.inputTokens).toBe(30);

    const tooLong = summarized({
      summary: plan(
        jest.fn(async () => reply('Launch: 1 March.')),
        {},
        31,
      ),
    });
    await tooLong.ctx.reserve();
    expect([tooLong.ctx.degraded, tooLong.ctx.messages, tooLong.ctx.inputTokens]).toEqual([truncated, kept, 10]);
  });

  it("with summarizeFallback 'reject', a failed summary refuses the request", async () => {
    const failing = jest.fn(async () => Promise.reject(new Error('summarizer down')));
    const { ctx } = summarized({ summary: plan(failing, { fallback: 'reject' }) });
    await expect(ctx.reserve()).rejects.toMatchObject({ type: 'input_too_large' });
    expect(ctx.state).toBe('refused');
  });

  it('a failed summary is reported and not cached', async () => {
    const cache = { get: jest.fn(() => undefined), set: jest.fn() };
    const { ctx, warn } = summarized({
      summary: plan(
        jest.fn(async () => Promise.reject(new Error('summarizer down'))),
        { cache },
      ),
    });
    await ctx.reserve();
    expect(warn).toHaveBeenCalledWith(
      'TB_SUMMARY_FAILED',
      'The summary of feature "chat" failed (Error: summarizer down); summarizeFallback applied.',
    );
    expect([cache.set.mock.calls, ctx.degraded]).toEqual([[], truncated]);
  });

  it('a summary cache that throws is reported: the conversation is summarized again, and its failed write too', async () => {
    const create = jest.fn(async () => reply('Launch: 1 March.'));
    const cache = {
      get: () => {
        throw new Error('cache down');
      },
      set: () => Promise.reject(new Error('cache full')),
    };
    const { ctx, warn } = summarized({ summary: plan(create, { cache }) });
    await ctx.reserve();
    await new Promise((resolve) => setImmediate(resolve));
    expect([create.mock.calls.length, ctx.degraded?.strategy]).toEqual([1, 'summarize']);
    expect(warn.mock.calls).toEqual([
      ['TB_SUMMARY_CACHE_FAILED', 'summaryCache.get threw: Error: cache down; the conversation is summarized again.'],
      ['TB_SUMMARY_CACHE_FAILED', 'summaryCache.set threw: Error: cache full.'],
    ]);
  });

  it('asks the summarizer nothing when not one line of the conversation fits its input beside the instruction', async () => {
    const create = jest.fn(async () => reply('Launch: 1 March.'));
    // The instruction alone takes about 10 tokens: 12 leave room for no line of the transcript.
    const { ctx } = summarized({ summary: plan(create, { maxInput: 12 }) });
    await ctx.reserve();
    expect([create.mock.calls.length, ctx.degraded]).toEqual([0, truncated]);
  });

  it("weighs the summary call's money at the summarizer's prices", async () => {
    const store = memoryStore();
    const summary = plan(jest.fn(async () => reply('Launch: 1 March.')));
    const { ctx } = summarized({ store, scopes: [feature, spend], summary });
    const prices: Record<string, TokenWeights> = {
      'gpt-4o': { input: 10, cachedInput: 10, output: 10 },
      'gpt-4o-mini': { input: 3, cachedInput: 3, output: 3 },
    };
    ctx.weighSpendWith((model) => prices[model]!);
    await ctx.reserve();
    await ctx.release();
    // The summary's 40 input + 6 output tokens at 3 nano-USD each, its tokens as tokens; the main call's reservation given back.
    expect([(await store.usage(spend)).used, (await store.usage(feature)).used]).toEqual([138, 46]);
  });

  it('keeps a shadow budget in shadow for the summary call: it counts it, never refuses it', async () => {
    const store = memoryStore();
    const tiny: ScopeRequest = { ...feature, limit: 5 };
    const summary = plan(jest.fn(async () => reply('Launch: 1 March.')));
    const { ctx } = context({ store, scopes: [], messages: kept, degraded: truncated, summary });
    ctx.declare(tiny, 'shadow');
    await ctx.reserve();
    expect(ctx.degraded?.strategy).toBe('summarize');
  });

  it("charges a summary without usage by the budget's onMissingUsage", async () => {
    const store = memoryStore();
    const { ctx } = summarized({
      store,
      calls: { onMissingUsage: 'count-reply' },
      summary: plan(jest.fn(async () => reply('Launch: 1 March.', null))),
    });
    await ctx.reserve();
    // The reply's counted output, not the summarizer's whole cap of 20.
    expect(ctx.degraded?.summary?.usage.output).toBeLessThan(20);
  });
});
