// One app builder per framework: the same budget and chain on Express 5, Koa 3 and Koa 2, listening on a loopback port.
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { RequestHandler } from 'express';
import Koa from 'koa';
import compose from 'koa-compose';
import OpenAI from 'openai';
import { createTokenBudget, type TokenBudget, type TokenBudgetOptions } from '../../lib';
import { createTokenBudget as createKoaBudget, type KoaContext } from '../../lib/koa';
import { startOfflineUpstream, type OfflineUpstream, type OfflineUpstreamOptions } from '../../lib/testing';
import { FEATURES } from './app';

// Loaded untyped: @koa/bodyparser's types add `body?: unknown` to every IncomingMessage (Express's `req.body` too),
// and koa2 (Koa 2 under an alias) has none.
/* eslint-disable @typescript-eslint/no-require-imports */
const { bodyParser } = require('@koa/bodyparser') as { bodyParser: () => Koa.Middleware };
const Koa2 = require('koa2') as typeof Koa;
/* eslint-enable @typescript-eslint/no-require-imports */

export interface FrameworkApp {
  /** The budget; on Koa its middlewares are Koa's, everything else is the same. */
  budget: TokenBudget;
  upstream: OfflineUpstream;
  /** The openai SDK pointed at the app: its route answers at /chat (pass `{ path: '/chat' }`). */
  routeClient: OpenAI;
  baseURL: string;
  stop(): Promise<void>;
}

export interface FrameworkAppOptions {
  budget?: Partial<TokenBudgetOptions>;
  upstream?: OfflineUpstreamOptions;
  /** The route's chain, written once: the Koa budget's methods have the same names and give Koa middlewares. */
  chain?: (budget: TokenBudget, client: OpenAI) => RequestHandler[];
}

/** A principal read the same way on both frameworks: Express's `req.get` and Koa's `ctx.get` read a header. */
export const headerUser = (request: { get(name: string): string | undefined }) => request.get('x-test-user') || undefined;

type Mount = (budget: TokenBudget, chain: unknown[]) => http.Server;

const onExpress: Mount = (budget, chain) => {
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.post('/chat', ...(chain as RequestHandler[]));
  app.use(budget.errorHandler());
  return app.listen(0, '127.0.0.1');
};

const onKoa =
  (App: typeof Koa): Mount =>
  (budget, chain) => {
    const app = new App();
    // Koa reports errors it answers with on stderr; the scenarios check the answers themselves.
    app.silent = true;
    app.use(budget.errorHandler() as unknown as Koa.Middleware);
    app.use(bodyParser());
    const route = compose(chain as Koa.Middleware[]);
    app.use((ctx: KoaContext, next) => (ctx.method === 'POST' && ctx.path === '/chat' ? route(ctx, next) : next()));
    return app.listen(0, '127.0.0.1');
  };

/** Builds the budget of each framework from the same options. */
const budgets = {
  express: (options: TokenBudgetOptions) => createTokenBudget(options),
  koa: (options: TokenBudgetOptions) => createKoaBudget(options as never) as unknown as TokenBudget,
};

export const FRAMEWORKS = {
  'Express 5': { budget: budgets.express, mount: onExpress },
  'Koa 3': { budget: budgets.koa, mount: onKoa(Koa) },
  'Koa 2': { budget: budgets.koa, mount: onKoa(Koa2) },
};

export type FrameworkName = keyof typeof FRAMEWORKS;

/** POST /chat guarded by the chain (default: featureBudget('chat') → llmHandler) on `framework`. */
export async function startFrameworkApp(framework: FrameworkName, options: FrameworkAppOptions = {}): Promise<FrameworkApp> {
  const upstream = await startOfflineUpstream(options.upstream);
  const client = new OpenAI({ apiKey: 'sk-test-secret-key-0123456789', baseURL: upstream.baseURL, maxRetries: 0 });
  const { budget: build, mount } = FRAMEWORKS[framework];
  const budget = build({ features: FEATURES, onWarning: () => {}, onStoreError: () => {}, ...options.budget });
  const chain = options.chain?.(budget, client) ?? [budget.featureBudget('chat'), budget.llmHandler({ client })];
  const server = mount(budget, chain);
  await once(server, 'listening');
  const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const routeClient = new OpenAI({ apiKey: 'unused', baseURL, maxRetries: 0 });
  const stop = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await upstream.close();
  };
  return { budget, upstream, routeClient, baseURL, stop };
}
