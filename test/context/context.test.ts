// The budget context without HTTP: a response that ends mid-call leaves settlement to run().
import type { CallSettings } from '../../lib/context';
import { memoryStore } from '../../lib';
import type { ScopeRequest } from '../../lib/store/types';
import { chatContext, feature } from './scopes';

function context(store = memoryStore(), calls: Partial<CallSettings> = {}) {
  return { ctx: chatContext({ store, calls }), store };
}

test('a response that ends while the model is answering does not release what the model then bills', async () => {
  const { ctx, store } = context();
  let answer!: (value: { usage: { total_tokens: number } }) => void;
  const running = ctx.run(() => new Promise((resolve) => (answer = resolve)));
  await new Promise((r) => setImmediate(r));
  expect((await store.usage(feature)).used).toBe(60);
  await ctx.end(false); // the client went away
  answer({ usage: { total_tokens: 37 } }); // the upstream billed anyway
  await running;
  expect((await store.usage(feature)).used).toBe(37);
  expect(ctx.state).toBe('settled');
});

test('a reservation nobody settles is released when the response ends', async () => {
  const { ctx, store } = context();
  expect(await ctx.reserve()).toBe(50);
  await ctx.end(true);
  expect((await store.usage(feature)).used).toBe(0);
  expect(ctx.state).toBe('released');
});

test('callParams name the output cap the way the model family wants it', async () => {
  const { ctx } = context();
  await ctx.reserve();
  expect(ctx.callParams()).toEqual({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });
});

test('two concurrent runs do not take two reservations', async () => {
  const { ctx, store } = context();
  const first = ctx.run(async () => ({ usage: { total_tokens: 20 } }));
  await expect(ctx.run(async () => ({ usage: { total_tokens: 20 } }))).rejects.toThrow(/reserve\(\) called in state reserving/);
  await first;
  expect((await store.usage(feature)).used).toBe(20);
});

test('a manual reserve whose response ends mid-call still records what the model billed', async () => {
  const { ctx, store } = context();
  await ctx.reserve();
  await ctx.end(false); // the client went away: the reservation is given back
  expect((await store.usage(feature)).used).toBe(0);
  await ctx.settle({ total_tokens: 42 }); // the model billed anyway
  expect((await store.usage(feature)).used).toBe(42);
});

test('a reservation that completes after the response ended is given back', async () => {
  const { ctx, store } = context();
  const reserving = ctx.reserve();
  await ctx.end(false);
  await expect(reserving).rejects.toThrow(/response ended/);
  expect((await store.usage(feature)).used).toBe(0);
});

describe('run settles what the call cost', () => {
  /** An error as the openai SDK throws for an HTTP answer. */
  const statusError = (status: number) => Object.assign(new Error(`status ${status}`), { status });

  it('hands the call one attempt, a signal and the time-out', async () => {
    const { ctx } = context(memoryStore(), { callTimeoutMs: 12_345 });
    let seen: unknown;
    await ctx.run((_params, options) => {
      seen = options;
      return { usage: { total_tokens: 1 } };
    });
    expect(seen).toEqual({ signal: expect.any(AbortSignal), timeout: 12_345, maxRetries: 0 });
  });

  it.each([400, 401, 429, 500, 503])('releases a call the provider refused with status %i', async (status) => {
    const { ctx, store } = context();
    await expect(ctx.run(async () => Promise.reject(statusError(status)))).rejects.toThrow();
    expect((await store.usage(feature)).used).toBe(0);
    expect(ctx.state).toBe('released');
  });

  it('releases a call whose connection was refused: nothing was sent', async () => {
    const { ctx, store } = context();
    const refused = Object.assign(new Error('Connection error.'), {
      cause: Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
    });
    await expect(ctx.run(async () => Promise.reject(refused))).rejects.toThrow();
    expect((await store.usage(feature)).used).toBe(0);
  });

  it('releases a call that threw before returning a promise', async () => {
    const { ctx, store } = context();
    await expect(
      ctx.run(() => {
        throw new TypeError('bad params');
      }),
    ).rejects.toThrow('bad params');
    expect((await store.usage(feature)).used).toBe(0);
  });

  it.each([
    ['a garbled body', new SyntaxError('Unexpected token')],
    ['a reset connection', Object.assign(new Error('terminated'), { cause: { code: 'ECONNRESET' } })],
    ['a status-less SDK error', Object.assign(new Error('Connection error.'), { status: undefined })],
  ])('charges the whole reservation for %s after the request was sent', async (_what, error) => {
    const { ctx, store } = context();
    await expect(ctx.run(async () => Promise.reject(error))).rejects.toBe(error);
    expect((await store.usage(feature)).used).toBe(60);
    expect(ctx.state).toBe('settled');
  });

  it('stops a call past its time-out, charges it and says why', async () => {
    const { ctx, store } = context(memoryStore(), { callTimeoutMs: 30 });
    let aborted = false;
    const call = ctx.run(
      (_params, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
    );
    await expect(call).rejects.toThrow('aborted');
    expect([aborted, ctx.stoppedBy]).toEqual([true, 'timeout']);
    expect((await store.usage(feature)).used).toBe(60);
  });

  it("with onClientGone 'abort', stops the call when the response ends and charges it", async () => {
    const { ctx, store } = context(memoryStore(), { onClientGone: 'abort' });
    const call = ctx.run(
      (_params, { signal }) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    );
    await new Promise((r) => setImmediate(r));
    await ctx.end(true);
    await expect(call).rejects.toThrow('aborted');
    expect(ctx.stoppedBy).toBe('client-gone');
    expect((await store.usage(feature)).used).toBe(60);
  });

  const replyWithoutUsage = {
    choices: [
      {
        message: {
          role: 'assistant',
          content: 'ok ok ok',
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'ok', arguments: 'ok ok' } }],
        },
      },
    ],
  };

  it('charges a reply without usage its whole reservation by default (hidden tokens leave no trace in it)', async () => {
    const warn = jest.fn();
    const { ctx, store } = context();
    (ctx as unknown as { warn: typeof warn }).warn = warn;
    await ctx.run(async () => replyWithoutUsage);
    // 10 counted input + the 50-token cap sent upstream.
    expect((await store.usage(feature)).used).toBe(60);
    expect(warn).toHaveBeenCalledWith('TB_NO_USAGE', expect.stringContaining('whole reservation'));
  });

  it("with onMissingUsage 'count-reply', settles a reply without usage at the counted input plus its counted output", async () => {
    const warn = jest.fn();
    const store = memoryStore();
    const { ctx } = context(store, { onMissingUsage: 'count-reply' });
    (ctx as unknown as { warn: typeof warn }).warn = warn;
    await ctx.run(async () => replyWithoutUsage);
    // 10 counted input + "ok ok ok" (3) + "ok" (1) + "ok ok" (2).
    expect((await store.usage(feature)).used).toBe(16);
    expect(warn).toHaveBeenCalledWith('TB_NO_USAGE', expect.any(String));
  });

  it('charges the reservation for a result that is not a chat completion and has no usage', async () => {
    const { ctx, store } = context(memoryStore(), { onMissingUsage: 'count-reply' });
    await ctx.run(async () => 'plain text');
    expect((await store.usage(feature)).used).toBe(60);
  });

  it('reports the budgets after a release, not while reserved', async () => {
    const { ctx } = context();
    await expect(ctx.run(async () => Promise.reject(statusError(500)))).rejects.toThrow();
    expect(ctx.scopeStates).toMatchObject([{ key: feature.key, used: 0, remaining: 1000 }]);
  });

  it("names the app's user to the provider hashed, and nobody when no user quota was declared", async () => {
    const user: ScopeRequest = { ...feature, kind: 'user', key: 'u:{u=alice}:day' };
    const { ctx } = context();
    ctx.declare(user);
    await ctx.reserve();
    const id = ctx.callParams().safety_identifier;
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(String(id)).not.toContain('alice');
    const anonymous = context().ctx;
    await anonymous.reserve();
    expect(anonymous.callParams()).not.toHaveProperty('safety_identifier');
  });
});
