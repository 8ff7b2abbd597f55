// The budget context without HTTP: a response that ends mid-call leaves settlement to run().
import { BudgetContext } from '../lib/context';
import { memoryStore } from '../lib';
import { featureScopeKey } from '../lib/store/keys';
import type { ScopeRequest } from '../lib/store/types';
import { lookupModel } from '../lib/tokens/models';

const scope: ScopeRequest = {
  kind: 'feature',
  key: featureScopeKey('chat'),
  limit: 1000,
  onUnavailable: 'fail-closed',
  window: { kind: 'fixed', periodAt: () => ({ id: 'p', startMs: 0, endMs: 8.64e15 }) },
};

function context(store = memoryStore()) {
  const ctx = new BudgetContext({
    feature: 'chat',
    model: 'gpt-4o',
    modelInfo: lookupModel('gpt-4o')!,
    messages: [{ role: 'user', content: 'hi' }],
    tools: undefined,
    inputTokens: 10,
    maxOutput: 50,
    degraded: undefined,
    forwardParams: {},
    store,
    warn: () => {},
    now: Date.now,
  });
  ctx.declare(scope);
  return { ctx, store };
}

test('a response that ends while the model is answering does not release what the model then bills', async () => {
  const { ctx, store } = context();
  let answer!: (value: { usage: { total_tokens: number } }) => void;
  const running = ctx.run(() => new Promise((resolve) => (answer = resolve)));
  await new Promise((r) => setImmediate(r));
  expect((await store.usage(scope)).used).toBe(60);
  await ctx.end(false); // the client went away
  answer({ usage: { total_tokens: 37 } }); // the upstream billed anyway
  await running;
  expect((await store.usage(scope)).used).toBe(37);
  expect(ctx.state).toBe('settled');
});

test('a reservation nobody settles is released when the response ends', async () => {
  const { ctx, store } = context();
  expect(await ctx.reserve()).toBe(50);
  await ctx.end(true);
  expect((await store.usage(scope)).used).toBe(0);
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
  expect((await store.usage(scope)).used).toBe(20);
});

test('a manual reserve whose response ends mid-call still records what the model billed', async () => {
  const { ctx, store } = context();
  await ctx.reserve();
  await ctx.end(false); // the client went away: the reservation is given back
  expect((await store.usage(scope)).used).toBe(0);
  await ctx.settle({ total_tokens: 42 }); // the model billed anyway
  expect((await store.usage(scope)).used).toBe(42);
});

test('a reservation that completes after the response ended is given back', async () => {
  const { ctx, store } = context();
  const reserving = ctx.reserve();
  await ctx.end(false);
  await expect(reserving).rejects.toThrow(/response ended/);
  expect((await store.usage(scope)).used).toBe(0);
});
