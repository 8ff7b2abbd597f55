// Proof across processes: 4 app processes, one Redis (or a cluster), 1,000 concurrent requests of one user.
import { createClient } from 'redis';
import { countChatTokens, redisStore } from '../../lib';
import { userScopeKey } from '../../lib/store/keys';
import { periodAt } from '../../lib/store/periods';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import { spawnApp } from '../helpers/child-app';
import { startConnectedCluster, startRedis } from '../helpers/redis';

const PROCESSES = 4;
const REQUESTS = 1000;
const USER_LIMIT = 10_000;
const WORKER = require.resolve('../fixtures/budget-worker.ts');

type Worker = Awaited<ReturnType<typeof spawnApp>>;

const body = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question number ${i}` }] });

async function storm(workers: Worker[]): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const { port } = workers[i % workers.length]!;
      const res = await fetch(`http://127.0.0.1:${port}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': 'u1' },
        body: body(i),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }),
  );
  return statuses;
}

/** The upstream generates the whole cap for two requests in three, less for the rest. */
const completionTokens = (request: { body: Record<string, unknown> }, cap: number) =>
  String(JSON.stringify(request.body.messages)).length % 3 === 0 ? Math.max(1, cap - 7) : cap;

describe.each([
  ['one Redis', false],
  ['a 3-master cluster', true],
])('%s shared by 4 processes', (_name, clustered) => {
  let upstream: OfflineUpstream;
  let workers: Worker[] = [];
  let stopRedis: () => Promise<void>;
  let store: ReturnType<typeof redisStore>;
  let closeClient: (() => Promise<unknown>) | undefined;

  beforeAll(async () => {
    upstream = await startOfflineUpstream({ completionTokens });
    let env: Record<string, string>;
    if (clustered) {
      const cluster = await startConnectedCluster(3);
      stopRedis = cluster.close;
      env = { REDIS_CLUSTER_URLS: cluster.servers.rootNodes.map((n) => n.url).join(',') };
      store = redisStore(cluster.client);
    } else {
      const server = await startRedis();
      stopRedis = server.close;
      env = { REDIS_URL: server.url };
      const client = createClient({ url: server.url });
      client.on('error', () => {});
      await client.connect();
      store = redisStore(client);
      closeClient = () => client.close();
    }
    workers = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        spawnApp(WORKER, { ...env, UPSTREAM_URL: upstream.baseURL, USER_LIMIT: String(USER_LIMIT) }),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const { child } of workers) child.kill();
    await closeClient?.();
    await stopRedis?.();
    await upstream?.close();
  });

  test('admitted tokens never exceed the quota, and nothing stays reserved', async () => {
    const statuses = await storm(workers);
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    expect((statuses.get(200) ?? 0) + (statuses.get(429) ?? 0)).toBe(REQUESTS);
    const billed = upstream.billedTokens();
    expect(billed).toBeLessThanOrEqual(USER_LIMIT);
    expect(upstream.calls).toHaveLength(statuses.get(200)!);
    // Enough requests were admitted that the quota was really contested.
    expect(billed).toBeGreaterThan(USER_LIMIT * 0.9);

    const scope = {
      kind: 'user' as const,
      key: userScopeKey('u1', 'day'),
      limit: USER_LIMIT,
      onUnavailable: 'fail-closed' as const,
      window: { kind: 'fixed' as const, periodAt: (now: number) => periodAt(now, 'day', 'UTC') },
    };
    // Settled to the upstream's own figures: no leaked reservation, no lost settlement.
    expect((await store.usage(scope)).used).toBe(billed);

    // A request that fits what is left is admitted now that the others are done.
    const remaining = USER_LIMIT - billed;
    const prompt = countChatTokens([{ role: 'user', content: 'question number 1' }], { model: 'gpt-4o' });
    const res = await fetch(`http://127.0.0.1:${workers[0]!.port}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'u1' },
      body: body(1),
    });
    expect(res.status).toBe(remaining >= prompt + 1 ? 200 : 429);
  }, 120_000);
});
