// The measured route in one process without sockets: the SDK's real client over a fetch that answers at once, and a way to serve a request.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express, { type Express, type RequestHandler } from 'express';
import OpenAI from 'openai';
import { BENCH_FEATURES, benchChain } from './budget-chain';
import { nextMessages, prepareLib, STUB_COMPLETION } from './overhead';

type Lib = typeof import('../lib');

/**
 * `UPSTREAM_DELAY_MS`: the fake upstream answers after a timer of that many ms, as a real one
 * answers on a later turn of the event loop; each request's objects then live through the
 * wait, and the collector pays for what survives. Unset: at once.
 */
const UPSTREAM_DELAY_MS = process.env.UPSTREAM_DELAY_MS === undefined ? undefined : Number(process.env.UPSTREAM_DELAY_MS);

/** The SDK's real client over a fetch that answers at once (after UPSTREAM_DELAY_MS, when set). */
export const inProcessClient = new OpenAI({
  apiKey: 'bench',
  baseURL: 'http://127.0.0.1:9/v1',
  maxRetries: 0,
  fetch: async () => {
    if (UPSTREAM_DELAY_MS !== undefined) await new Promise((answer) => setTimeout(answer, UPSTREAM_DELAY_MS));
    return new Response(STUB_COMPLETION, { status: 200, headers: { 'content-type': 'application/json' } });
  },
});

/** The bare route: the same call, no budget. */
export const bareRoute =
  (client: OpenAI): RequestHandler =>
  async (req, res) => {
    res.json(await client.chat.completions.create({ model: 'gpt-4o', messages: req.body.messages, max_tokens: 200 }));
  };

/** The measured route on a memory store, as bench/overhead.ts mounts it. */
export function chainOf(lib: Lib, client: OpenAI): RequestHandler[] {
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
  // Parsed from JSON, as a body parser hands it over: flat strings, new with every request.
  (req as IncomingMessage & { body: unknown }).body = JSON.parse(JSON.stringify({ messages: nextMessages() }));
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

/** Requests kept in flight by `serveMany`. */
export const IN_FLIGHT = 16;

/** Serves `count` requests to `path`, IN_FLIGHT at a time. */
export async function serveMany(app: Express, path: string, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += IN_FLIGHT)
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => serve(app, path)));
}

/**
 * An app with the bare route, this tree's chain (`/chain`) and the chain at each of `baselines`
 * (`/chain@<ref>`), their lib/ compiled as the package ships it; `remove` deletes the compiled copies.
 */
export function inProcessApp(baselines: string[]): { app: Express; routes: string[]; remove: () => void } {
  const libs = [
    { route: '/chain', ...prepareLib(undefined) },
    ...baselines.map((ref) => ({ route: `/chain@${ref}`, ...prepareLib(ref) })),
  ];
  const app = express();
  app.post('/bare', bareRoute(inProcessClient));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const { route, libDir } of libs) app.post(route, ...chainOf(require(libDir) as Lib, inProcessClient));
  return {
    app,
    routes: ['/bare', ...libs.map(({ route }) => route)],
    remove: () => libs.forEach(({ remove }) => remove()),
  };
}
