// The budget context's settlement as the store, the observer and the app see it: each call settled once, the Responses minimum, the warnings.
import { type CallObserver, type CallSettings, type SettledCall } from '../../lib/context';
import { memoryStore } from '../../lib';
import { BudgetRefusal } from '../../lib/refusal';
import type { ScopeRequest, Store } from '../../lib/store/types';
import type { ToolDefinition } from '../../lib/messages';
import { chatContext, feature, window } from './scopes';

/** A quota named `name` admitting `limit` tokens. */
const quota = (name: string, limit: number): ScopeRequest => ({
  kind: 'quota',
  name,
  key: `q:{${name}}`,
  limit,
  onUnavailable: 'fail-closed',
  window,
});

interface Setup {
  store?: Store;
  calls?: Partial<CallSettings>;
  scopes?: ScopeRequest[];
  maxOutput?: number;
  tools?: ToolDefinition[];
  observer?: CallObserver;
}

/** A context of feature "chat" on gpt-4o: 10 input tokens, a 50-token cap, the feature's budget of 1000 unless `scopes` says. */
function context({ store = memoryStore(), scopes = [feature], maxOutput = 50, ...init }: Setup = {}) {
  const warn = jest.fn();
  const ctx = chatContext({ ...init, store, warn, maxOutput }, scopes);
  const settled: SettledCall[] = [];
  ctx.afterSettle((call) => settled.push(call));
  return { ctx, store, warn, settled };
}

const used = async (store: Store, scope: ScopeRequest = feature) => (await store.usage(scope)).used;

/** A chat stream's chunk carrying `content`. */
const delta = (content: string) => ({ choices: [{ index: 0, delta: { content } }] });

describe('a call reserved by hand is settled once, at what it cost', () => {
  it('settle() moves the reservation to the usage', async () => {
    const { ctx, store, settled } = context();
    await ctx.reserve();
    await ctx.settle({ total_tokens: 42 });
    expect([await used(store), ctx.state, settled.length]).toEqual([42, 'settled', 1]);
  });

  it('charge() takes the whole reservation', async () => {
    const { ctx, store } = context();
    await ctx.reserve();
    await ctx.charge();
    expect([await used(store), ctx.state]).toEqual([60, 'settled']);
  });

  it("settleStream() takes the stream's usage, or without one its counted output (onMissingUsage 'count-reply')", async () => {
    const withUsage = context();
    await withUsage.ctx.reserve();
    await withUsage.ctx.settleStream({ total_tokens: 30 }, 7);
    expect([await used(withUsage.store), withUsage.ctx.state]).toEqual([30, 'settled']);

    const counted = context({ calls: { onMissingUsage: 'count-reply' } });
    await counted.ctx.reserve();
    await counted.ctx.settleStream(undefined, 7);
    expect([await used(counted.store), counted.ctx.state]).toEqual([17, 'settled']);
    expect(counted.warn).toHaveBeenCalledWith(
      'TB_NO_USAGE',
      'A stream of feature "chat" returned no usage; it was charged the counted input plus the reply\'s counted output.',
    );
  });

  it('settle, charge and settleStream do nothing before the reservation, nor after the call was settled', async () => {
    const { ctx, store, settled } = context();
    await ctx.settle({ total_tokens: 5 });
    await ctx.charge();
    await ctx.settleStream({ total_tokens: 5 }, 5);
    expect([ctx.state, settled.length]).toEqual(['planned', 0]);
    expect(await ctx.reserve()).toBe(50);
    await ctx.settle({ total_tokens: 42 });
    await ctx.settle({ total_tokens: 99 });
    await ctx.charge();
    await ctx.settleStream({ total_tokens: 99 }, 99);
    // What the headers report moved once, and the listeners (cost meter, metrics) heard of one call.
    expect(ctx.scopeStates).toMatchObject([{ used: 42, remaining: 958 }]);
    expect([await used(store), settled.length]).toEqual([42, 1]);
  });

  it('a settle after a release by hand adds nothing: only a release at the response end waits for a late bill', async () => {
    const { ctx, store, settled } = context();
    await ctx.reserve();
    await ctx.release();
    await ctx.settle({ total_tokens: 42 });
    expect([await used(store), ctx.state, settled.length]).toEqual([0, 'released', 0]);
  });

  it('a release after the call was settled changes nothing', async () => {
    const { ctx, store } = context();
    await ctx.reserve();
    await ctx.settle({ total_tokens: 42 });
    await ctx.release();
    expect([await used(store), ctx.state]).toEqual([42, 'settled']);
    expect(ctx.scopeStates).toMatchObject([{ used: 42, remaining: 958 }]);
  });

  it('a request with no budgets is settled too: its listeners hear of the call, with or without an observer', async () => {
    const ended: boolean[] = [];
    const observer: CallObserver = { active: true, reserved: () => {}, ended: (_c, _d, _call, held) => void ended.push(held) };
    for (const setup of [{ scopes: [] }, { scopes: [], observer }]) {
      const { ctx, settled } = context(setup);
      await ctx.run(async () => ({ usage: { total_tokens: 12 } }));
      expect([ctx.state, settled.length]).toEqual(['settled', 1]);
    }
    // Told of the call, as one whose reservation it was not told of.
    expect(ended).toEqual([false]);
  });

  it('a late settle after the response ended is added once: a second settle adds nothing', async () => {
    const { ctx, store, settled } = context();
    await ctx.reserve();
    await ctx.end(false); // the client left: the reservation is given back
    await ctx.settle({ total_tokens: 42 });
    expect(ctx.state).toBe('settled');
    await ctx.settle({ total_tokens: 42 });
    expect([await used(store), settled.length]).toEqual([42, 1]);
  });
});

describe('afterSettle listeners', () => {
  it('hear nothing of a release: it cost nothing', async () => {
    const { ctx, settled } = context();
    await ctx.reserve();
    await ctx.release();
    expect([ctx.state, settled]).toEqual(['released', []]);
  });

  it('one that throws is reported as TB_LISTENER_FAILED, and the ones after it still hear of the call', async () => {
    const { ctx, store, warn, settled } = context();
    const heardLater: number[] = [];
    ctx.afterSettle(() => {
      throw new Error('audit log down');
    });
    ctx.afterSettle((call) => heardLater.push(call.usage.input + call.usage.output));
    await ctx.run(async () => ({ usage: { prompt_tokens: 10, completion_tokens: 5 } }));
    expect([settled.length, heardLater, await used(store)]).toEqual([1, [15], 15]);
    expect(warn).toHaveBeenCalledWith('TB_LISTENER_FAILED', 'A listener of settled calls threw: Error: audit log down');
  });
});

describe('the call observer (metrics)', () => {
  /** An observer that notes what `ended` was told. */
  function recorder() {
    const ended: { durationMs: number; usage: number | undefined; held: boolean }[] = [];
    const observer: CallObserver = {
      active: true,
      reserved: () => {},
      ended: (_context, durationMs, call, held) =>
        void ended.push({ durationMs, usage: call && call.usage.input + call.usage.output, held }),
    };
    return { observer, ended };
  }

  it('is told how long the settlement took, not the time since the process started', async () => {
    const { observer, ended } = recorder();
    const { ctx } = context({ observer });
    await ctx.reserve();
    const before = performance.now();
    await ctx.settle({ total_tokens: 42 });
    const took = performance.now() - before;
    expect(ended).toEqual([{ durationMs: expect.any(Number), usage: 42, held: true }]);
    expect(ended[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(ended[0]!.durationMs).toBeLessThanOrEqual(took);
  });

  it('hears of a release that ends a reservation, then of the late settle as a call it did not hold', async () => {
    const { observer, ended } = recorder();
    const { ctx } = context({ observer });
    await ctx.reserve();
    await ctx.end(false);
    await ctx.settle({ total_tokens: 42 });
    expect(ended.map(({ usage, held }) => ({ usage, held }))).toEqual([
      { usage: undefined, held: true },
      { usage: 42, held: false },
    ]);
  });
});

describe('callParams and responseParams', () => {
  it('refuse to be read before the reservation: there is no cap yet', () => {
    const { ctx } = context();
    expect(() => ctx.callParams()).toThrow('token-budget: callParams() before reserve()');
    expect(() => ctx.responseParams()).toThrow('token-budget: responseParams() before reserve()');
  });

  it("pass the request's tools on, and no tools key when it had none", async () => {
    const tool: ToolDefinition = { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } };
    const withTools = context({ tools: [tool] });
    await withTools.ctx.reserve();
    expect(withTools.ctx.callParams().tools).toEqual([tool]);
    const without = context();
    await without.ctx.reserve();
    expect(without.ctx.callParams()).not.toHaveProperty('tools');
    expect(without.ctx.responseParams()).not.toHaveProperty('tools');
  });
});

describe("run's time-out", () => {
  it('is cleared once the call answered: the call is not aborted later, nor said to have timed out', async () => {
    const { ctx } = context({ calls: { callTimeoutMs: 20 } });
    let signal!: AbortSignal;
    await ctx.run((_params, options) => {
      signal = options.signal;
      return { usage: { total_tokens: 15 } };
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect([signal.aborted, ctx.stoppedBy]).toEqual([false, undefined]);
  });

  it('charges a call it stopped even when the error it then threw looks like a refusal', async () => {
    const { ctx, store } = context({ calls: { callTimeoutMs: 30 } });
    const call = ctx.run(
      (_params, { signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(Object.assign(new Error('status 500'), { status: 500 }))),
        ),
    );
    await expect(call).rejects.toThrow('status 500');
    expect([ctx.stoppedBy, await used(store)]).toEqual(['timeout', 60]);
  });

  it('charges a stream past its time-out its whole reservation, not what it had streamed', async () => {
    const { ctx, store } = context({ calls: { callTimeoutMs: 30, onMissingUsage: 'count-reply' } });
    const stream = await ctx.runStream(async (_params, { signal }) =>
      (async function* () {
        yield delta('ok ok ok');
        // The SDK ends its stream silently once its signal is aborted.
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      })(),
    );
    for await (const chunk of stream) void chunk;
    expect([ctx.stoppedBy, await used(store)]).toEqual(['timeout', 60]);
  });

  it('charges a stream whose connection broke before its first chunk its whole reservation', async () => {
    const { ctx, store } = context();
    const reset = Object.assign(new Error('terminated'), { cause: { code: 'ECONNRESET' } });
    await expect(ctx.runStream(async () => Promise.reject(reset))).rejects.toBe(reset);
    expect(await used(store)).toBe(60);
  });
});

describe('the Responses API minimum output', () => {
  const answer = { usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 } };

  it("is not asked of a feature whose own cap is below it: the call is sent with the feature's cap", async () => {
    const { ctx, store } = context({ maxOutput: 10 });
    let cap: unknown;
    await ctx.run(
      (params) => {
        cap = params.max_output_tokens;
        return answer;
      },
      { api: 'responses' },
    );
    expect([cap, await used(store)]).toEqual([10, 15]);
  });

  it('refuses a call its budget left below the minimum, with what that budget had, and charges nothing', async () => {
    // The feature's cap is the minimum itself (16); its budget leaves 12 output tokens.
    const { ctx, store } = context({ maxOutput: 16, scopes: [quota('team', 22)] });
    const call = jest.fn(() => answer);
    const refusal = await ctx.run(call, { api: 'responses' }).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(BudgetRefusal);
    expect((refusal as BudgetRefusal).message).toBe(
      'This request needs at least 26 tokens (10 input + 16 output), and the team token quota for this period has 22 left.',
    );
    expect([call.mock.calls.length, ctx.state, await used(store, quota('team', 22))]).toEqual([0, 'refused', 0]);
  });

  it.each([
    ['the tightest declared first', [quota('team', 22), quota('org', 1000)], 'team'],
    ['the tightest declared last', [quota('org', 1000), quota('team', 22)], 'team'],
    ['two equally tight: the first declared', [quota('team', 22), quota('org', 22)], 'team'],
  ])('names the budget with the least output left: %s', async (_case, scopes, named) => {
    const { ctx } = context({ scopes });
    const refusal = await ctx.run(() => answer, { api: 'responses' }).catch((err: unknown) => err);
    expect((refusal as BudgetRefusal).body.error.scope).toBe(named);
  });

  it("tells a spending cap's figures as the store left them: what it took is in tokens, its figures in nano-USD", async () => {
    const spend: ScopeRequest = {
      kind: 'spend',
      key: 's:{chat}',
      limit: 44,
      onUnavailable: 'fail-closed',
      window,
      weights: { input: 2, cachedInput: 1, output: 2 },
    };
    const { ctx } = context({ scopes: [spend] });
    const refusal = await ctx.run(() => answer, { api: 'responses' }).catch((err: unknown) => err);
    expect((refusal as BudgetRefusal).type).toBe('spend_cap_reached');
    // 44 nano-USD pay for 10 input and 12 output tokens: nothing left, and no 22 tokens added to money.
    expect((refusal as BudgetRefusal).details.scope).toMatchObject({ kind: 'spend', remaining: 0 });
  });
});

describe('the warnings a call leaves', () => {
  it('a reply without usage: what it was charged, in words', async () => {
    const { ctx, warn } = context();
    await ctx.run(async () => ({ choices: [] }));
    expect(warn).toHaveBeenCalledWith(
      'TB_NO_USAGE',
      'A call of feature "chat" returned no usage; it was charged its whole reservation (onMissingUsage).',
    );
    const counted = context({ calls: { onMissingUsage: 'count-reply' } });
    await counted.ctx.run(async () => ({ choices: [{ message: { role: 'assistant', content: 'ok' } }] }));
    expect(counted.warn).toHaveBeenCalledWith(
      'TB_NO_USAGE',
      'A call of feature "chat" returned no usage; it was charged the counted input plus the reply\'s counted output.',
    );
  });

  it('budgets declared and never reserved on a served response are reported; a request with none is not', async () => {
    const declared = context();
    await declared.ctx.end(true);
    expect(declared.warn).toHaveBeenCalledWith(
      'TB_NOT_RESERVED',
      'A request of feature "chat" declared budgets but ended without reserving them; ' +
        'end the chain with llmHandler() or call req.tokenBudget.run().',
    );
    const none = context({ scopes: [] });
    await none.ctx.end(true);
    expect(none.warn).not.toHaveBeenCalled();
  });
});
