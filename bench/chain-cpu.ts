// The chain's own CPU per request, in one process without sockets: the SDK's real client over a fetch that answers at once.
// Run: npm run bench:chain   (env: ROUNDS=7 REQUESTS=20000 BASELINE=<git ref>[,<ref>…] adds the chain as of those commits)
//
// bench/overhead.ts measures the app as it runs, but a loaded or noisy machine moves its CPU ratios by ±0.2 (the
// event loop batches differently from run to run). Here nothing waits on I/O, so the figure is the CPU of the chain's
// code alone: what a route with the four middlewares costs on top of the same call made bare, side by side in one run.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express, { type Express, type RequestHandler } from 'express';
import OpenAI from 'openai';
import { BENCH_FEATURES, benchChain } from './budget-chain';
import { nextMessages, prepareLib, STUB_COMPLETION } from './overhead';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const IN_FLIGHT = 16;
const BASELINES = process.env.BASELINE ? process.env.BASELINE.split(',') : [];

type Lib = typeof import('../lib');

const client = new OpenAI({
  apiKey: 'bench',
  baseURL: 'http://127.0.0.1:9/v1',
  maxRetries: 0,
  fetch: async () => new Response(STUB_COMPLETION, { status: 200, headers: { 'content-type': 'application/json' } }),
});

const bare: RequestHandler = async (req, res) => {
  res.json(await client.chat.completions.create({ model: 'gpt-4o', messages: req.body.messages, max_tokens: 200 }));
};

/** The measured route on a memory store, as bench/overhead.ts mounts it. */
function chainOf(lib: Lib): RequestHandler[] {
  const budget = lib.createTokenBudget({ features: BENCH_FEATURES, store: lib.memoryStore() });
  budget.warmup();
  return benchChain(budget, client);
}

let served = 0;

/** One request through the app, its body already parsed; resolves once its response has ended and closed. */
function serve(app: Express, path: string): Promise<void> {
  const req = new IncomingMessage(new Socket());
  req.method = 'POST';
  req.url = path;
  req.headers = { 'content-type': 'application/json', 'x-user': `u${served++ % 100}` };
  (req as IncomingMessage & { body: unknown }).body = { messages: nextMessages() };
  const res = new ServerResponse(req);
  return new Promise((resolve, reject) => {
    // Without a socket nothing emits 'close': it is emitted as a server would, after the end.
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      end(...args);
      setImmediate(() => {
        res.emit('close');
        if (res.statusCode === 200) resolve();
        else reject(new Error(`${path} answered ${res.statusCode}`));
      });
      return res;
    }) as ServerResponse['end'];
    app(req as express.Request, res as express.Response, reject);
  });
}

/** CPU µs per request of `count` requests to `path`, IN_FLIGHT at a time. */
async function cpuPerRequest(app: Express, path: string, count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let sent = 0; sent < count; sent += IN_FLIGHT)
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => serve(app, path)));
  const { user, system } = process.cpuUsage(before);
  return (user + system) / count;
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.round(q * (values.length - 1))]!;

async function main(): Promise<void> {
  const current = prepareLib(undefined);
  const baselines = BASELINES.map((ref) => ({ ref, ...prepareLib(ref) }));
  try {
    const app = express();
    app.post('/bare', bare);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    app.post('/chain', ...chainOf(require(current.libDir) as Lib));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    baselines.forEach(({ ref, libDir }) => app.post(`/chain@${ref}`, ...chainOf(require(libDir) as Lib)));
    const routes = ['/bare', '/chain', ...baselines.map(({ ref }) => `/chain@${ref}`)];
    for (const route of routes) await cpuPerRequest(app, route, REQUESTS / 4); // warm-up: JIT, caches
    const samples = routes.map((): number[] => []);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotated each round, so that no route always runs first or after the same one.
      for (let k = 0; k < routes.length; k++) {
        const i = (round + k) % routes.length;
        samples[i]!.push(await cpuPerRequest(app, routes[i]!, REQUESTS));
      }
    }
    console.log(
      `${ROUNDS} rounds of ${REQUESTS} requests per route, ${IN_FLIGHT} in flight; CPU µs per request (median, quartiles)\n`,
    );
    console.log('| route | CPU µs / request | vs bare | the chain adds, µs |');
    console.log('|---|---|---|---|');
    routes.forEach((route, i) => {
      // Ratios and differences are taken within each round, where the routes ran side by side.
      const ratios = samples[i]!.map((cpu, round) => cpu / samples[0]![round]!);
      const added = samples[i]!.map((cpu, round) => cpu - samples[0]![round]!);
      console.log(
        `| ${route} | ${quantile(samples[i]!, 0.5).toFixed(1)} | ${quantile(ratios, 0.5).toFixed(2)}× ` +
          `(${quantile(ratios, 0.25).toFixed(2)}–${quantile(ratios, 0.75).toFixed(2)}) | ` +
          `${quantile(added, 0.5).toFixed(1)} (${quantile(added, 0.25).toFixed(1)}–${quantile(added, 0.75).toFixed(1)}) |`,
      );
    });
  } finally {
    current.remove();
    for (const { remove } of baselines) remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
