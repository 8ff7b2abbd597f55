// The spike baseline needs the store to keep each hour's settled spend for the 24 hours after it (memory store and Redis).
import { createClient } from 'redis';
import { memoryStore, redisStore } from '../../lib';
import { previousHours } from '../../lib/alerts/spike';
import { startRedis, type RedisServer } from '../helpers/redis';
import { meterScope } from './money';

const HOUR = 3_600_000;
const NOON = Date.UTC(2026, 10, 28, 12);

let redis: RedisServer | undefined;
let client: ReturnType<typeof createClient> | undefined;
afterAll(async () => {
  client?.destroy();
  await redis?.close();
});

test("memoryStore: an hour's settled spend is still there for the next 24 hours' spike checks", async () => {
  let clock = NOON - 3 * HOUR + 60_000;
  const store = memoryStore({ now: () => clock });
  const scope = meterScope('hour');
  const result = await store.reserve({ scopes: [scope], input: 100, maxOutput: 10 });
  if (!result.ok) throw new Error('refused');
  await store.settle(result.reservation, { input: 100, cachedInput: 0, output: 10 });
  clock = NOON + 60_000;
  const spent = await store.spentAt(scope, previousHours(scope, scope.window.periodAt(clock)));
  // 100 × 2,500 + 10 × 10,000 nano-USD, three hours back.
  expect(spent[2]).toBe(350_000);
});

test("redisStore: an hour's settled counter lives for the 24 hours after the hour", async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  const store = redisStore(client, { prefix: 'history:' });
  const scope = meterScope('hour');
  const result = await store.reserve({ scopes: [scope], input: 100, maxOutput: 10 });
  if (!result.ok) throw new Error('refused');
  await store.settle(result.reservation, { input: 100, cachedInput: 0, output: 10 });
  const [spentKey] = await client.keys('history:*:spent');
  expect(spentKey).toBeDefined();
  expect(await client.pTTL(spentKey!)).toBeGreaterThan(24 * HOUR);
});
