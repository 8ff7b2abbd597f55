// Shadow scopes against the real stores: reserved with lifted limits, judged by the store's own rule against their real ones.
import { createClient } from 'redis';
import { memoryStore, redisStore } from '../../lib';
import { checkMode, exceedEvent, liftShadowLimits, realStates, shadowHeaderValue, wouldRefuse } from '../../lib/shadow';
import type { ScopeRequest, Store } from '../../lib/store/types';
import type { ShadowEvent } from '../../lib/types';
import { startRedis, type RedisServer } from '../helpers/redis';

const DAY = { kind: 'fixed', periodAt: () => ({ id: 'd', startMs: 0, endMs: 8.64e15 }) } as const;
const user: ScopeRequest = {
  kind: 'user',
  name: 'user',
  key: 'u:{u=a}:d',
  limit: 300,
  onUnavailable: 'fail-closed',
  window: DAY,
};
const team: ScopeRequest = {
  kind: 'quota',
  name: 'team',
  key: 'q:{t=a}:d',
  limit: 1000,
  onUnavailable: 'fail-closed',
  window: DAY,
};
/** 2 nano-USD per input token, 10 per output token, 2000 nano-USD a day. */
const spend: ScopeRequest = {
  kind: 'spend',
  key: 's:{spend}:d',
  limit: 2000,
  onUnavailable: 'fail-closed',
  window: DAY,
  weights: { input: 2, cachedInput: 1, output: 10 },
};

let server: RedisServer;
let client: ReturnType<typeof createClient>;
beforeAll(async () => {
  server = await startRedis();
  client = createClient({ url: server.url });
  await client.connect();
});
afterAll(async () => {
  await client.close();
  await server.close();
});

const STORES: [string, () => Store][] = [
  ['memory', () => memoryStore()],
  ['redis', () => redisStore(client, { prefix: `shadow-${Math.random()}:` })],
];

describe.each(STORES)('%s store', (_name, createStore) => {
  test('a shadow scope past its limit takes the reservation and the settlement, and is told as refusing', async () => {
    const store = createStore();
    const shadowKeys = new Set([user.key, spend.key]);
    const scopes = [user, team, spend];
    const lifted = liftShadowLimits(scopes, shadowKeys);
    const outcomes: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const result = await store.reserve({ scopes: lifted, input: 100, maxOutput: 50 });
      if (!result.ok) throw new Error('a lifted reservation was refused');
      // The enforced team scope alone caps the output: 50 every time.
      expect(result.reservation.outputCap).toBe(50);
      outcomes.push(wouldRefuse(scopes, result.scopes, result.reservation, shadowKeys).map((s) => `${s.kind}:${s.used}`));
      await store.settle(result.reservation, { input: 100, cachedInput: 0, output: 20 });
    }
    // user: 120, 240 used before the third (60 left < 101); spend: 400 nano-USD a call, 800 before the third (1200 left, enough).
    expect(outcomes).toEqual([[], [], ['user:240']]);
    const states = realStates(scopes, await Promise.all(scopes.map((scope) => store.usage(scope))), shadowKeys);
    expect(states.map(({ used, limit, remaining }) => ({ used, limit, remaining }))).toEqual([
      { used: 360, limit: 300, remaining: 0 },
      { used: 360, limit: 1000, remaining: 640 },
      { used: 1200, limit: 2000, remaining: 800 },
    ]);
  });

  test('a money scope refuses when the input and one output token cost more than is left', async () => {
    const store = createStore();
    const tight = { ...spend, key: 's:{tight}:d', limit: 209 };
    const shadowKeys = new Set([tight.key]);
    const result = await store.reserve({ scopes: liftShadowLimits([tight], shadowKeys), input: 100, maxOutput: 50 });
    if (!result.ok) throw new Error('a lifted reservation was refused');
    // 200 for the input + 10 for one output token is 210 > 209.
    expect(wouldRefuse([tight], result.scopes, result.reservation, shadowKeys)).toEqual([
      expect.objectContaining({ kind: 'spend', used: 0, limit: 209, remaining: 209 }),
    ]);
  });
});

test('enforced scopes are sent as they are', () => {
  const scopes = [user, team];
  expect(liftShadowLimits(scopes, new Set())).toBe(scopes);
  expect(liftShadowLimits(scopes, new Set([team.key])).map((s) => s.limit)).toEqual([300, 2 ** 52]);
});

test('a scope the store did not count (failed open) decides nothing', () => {
  const reservation = { parts: [], leaseId: '', input: 100, outputCap: 50 };
  expect(wouldRefuse([user], [], reservation, new Set([user.key]))).toEqual([]);
});

test('the header names each code once, in the order first recorded', () => {
  const event = (code: string): ShadowEvent => ({ action: 'refuse', code, feature: 'chat', message: '' });
  expect(shadowHeaderValue([])).toBeUndefined();
  expect(shadowHeaderValue(['quota_exceeded', 'user_quota_exceeded', 'quota_exceeded'].map(event))).toBe(
    'quota_exceeded, user_quota_exceeded',
  );
});

test('mode is inherited unless given', () => {
  expect(checkMode(undefined, 'mode', 'shadow')).toBe('shadow');
  expect(checkMode('enforce', 'mode', 'shadow')).toBe('enforce');
  expect(() => checkMode('off', 'x.mode', 'enforce')).toThrow("x.mode must be 'enforce' or 'shadow'; got \"off\".");
});

test('input over maxInput is reported as the refusal or the strategy onExceed names', () => {
  const feature = { name: 'chat', maxInput: 100 };
  expect(exceedEvent(feature, 'reject', 150)).toEqual({
    action: 'refuse',
    code: 'input_too_large',
    feature: 'chat',
    status: 413,
    message: 'The input has 150 tokens; this feature accepts at most 100 input tokens.',
  });
  expect([exceedEvent(feature, 'summarize', 150), exceedEvent(feature, () => [], 150)].map((e) => [e.action, e.code])).toEqual([
    ['degrade', 'summarize'],
    ['degrade', 'custom'],
  ]);
});
