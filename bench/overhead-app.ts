// The app measured by bench/overhead.ts: one route bare (and again as a control), with the full chain (memory, Redis; memory with metrics), and with the peer limiter.
import express, { type RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import OpenAI from 'openai';
import { Registry } from 'prom-client';
import { RedisStore } from 'rate-limit-redis';
import { createClient } from 'redis';
import { listenForParent } from '../test/helpers/child-app';
import { BENCH_FEATURES as features, benchChain } from './budget-chain';

/** The package's exports, from `LIB_DIR` (lib/ compiled by the bench, or an older commit's) or else this tree's lib/ through tsx. */
type Lib = typeof import('../lib');

async function main(): Promise<void> {
  const { REDIS_URL, UPSTREAM_URL, LIB_DIR, REDIS_PREFIX } = process.env;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createTokenBudget, memoryStore, redisStore } = require(LIB_DIR ?? '../lib') as Lib;
  // Warnings printed while the bench measures are counted, so the bench can say there were none.
  let warnings = 0;
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings++;
    warn(...args);
  };
  const client = new OpenAI({ apiKey: 'bench', baseURL: UPSTREAM_URL, maxRetries: 0 });
  // No socketTimeout: it is an idle time-out, and this client sits idle while the other routes
  // are measured (node-redis closed it and the store warned of an outage). The bench's Redis never stalls.
  const redis = createClient({ url: REDIS_URL, socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000) } });
  redis.on('error', () => {});
  await redis.connect();

  const bare: RequestHandler = async (req, res) => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: req.body.messages,
      max_tokens: 200,
    });
    res.json(completion);
  };
  const peer = rateLimit({
    windowMs: 60_000,
    limit: 1e9,
    keyGenerator: (req) => String(req.get('x-user')),
    store: new RedisStore({ sendCommand: (...args: string[]) => redis.sendCommand(args) }),
  });

  const memoryBudget = createTokenBudget({ features, store: memoryStore() });
  const redisBudget = createTokenBudget({ features, store: redisStore(redis, { prefix: REDIS_PREFIX ?? 'bench:' }) });
  memoryBudget.warmup();
  // The same chain with Prometheus metrics on (commits before budget.metrics() have no such route).
  const meteredBudget = createTokenBudget({ features, store: memoryStore() });
  if ('metrics' in meteredBudget) meteredBudget.metrics({ registry: new Registry() });

  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.post('/bare', bare);
  app.post('/memory', ...benchChain(memoryBudget, client));
  app.post('/redis', ...benchChain(redisBudget, client));
  app.post('/metrics', ...benchChain(meteredBudget, client));
  app.post('/peer', peer, bare);
  // The bare handler again: its distance from /bare is what this machine's noise alone makes of the same work.
  app.post('/control', bare);
  // CPU this process has used, so the bench can report CPU per request: steadier than req/s on a shared machine.
  app.get('/cpu', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ micros: user + system, warnings });
  });
  listenForParent(app);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
