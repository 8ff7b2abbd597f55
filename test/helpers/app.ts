// Test apps: a budget, an Express app (4 or 5) and the real openai SDK against the offline upstream.
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import express5 from 'express';
import express4 from 'express4';
import OpenAI from 'openai';
import { createTokenBudget, type TokenBudget } from '../../lib';
import { featureScopeKey } from '../../lib/store/keys';
import { periodAt } from '../../lib/store/periods';
import type { ScopeRequest } from '../../lib/store/types';
import type { TokenBudgetOptions } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream, type OfflineUpstreamOptions } from '../../lib/testing';

export const EXPRESS = { 'Express 5': express5, 'Express 4': express4 as unknown as typeof express5 };

export interface TestApp {
  app: express5.Express;
  budget: TokenBudget;
  upstream: OfflineUpstream;
  client: OpenAI;
  close(): Promise<void>;
}

export interface TestAppOptions {
  budget?: Partial<TokenBudgetOptions>;
  upstream?: OfflineUpstreamOptions;
  express?: typeof express5;
  /** Builds the route's chain; default: featureBudget('chat') → llmHandler. */
  chain?: (budget: TokenBudget, client: OpenAI) => RequestHandler[];
  /** The model client the chain calls with; default: OpenAI at the upstream's base URL. */
  client?: (upstream: OfflineUpstream) => OpenAI;
  /** Sets `req.user` from the `x-test-user` / `x-test-plan` headers (the app's own auth, in tests). */
  users?: boolean;
}

/** Plain data, so that either framework's budget takes it. */
export const FEATURES = {
  chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o' },
  reasoning: { maxInput: 200, maxOutput: 50, model: 'o3-mini' },
} satisfies TokenBudgetOptions['features'];

/** An app with POST /chat guarded by the chain, and budget.errorHandler() mounted. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const upstream = await startOfflineUpstream(options.upstream);
  const client =
    options.client?.(upstream) ??
    new OpenAI({ apiKey: 'sk-test-secret-key-0123456789', baseURL: upstream.baseURL, maxRetries: 0 });
  const budget = createTokenBudget({ features: FEATURES, onWarning: () => {}, onStoreError: () => {}, ...options.budget });
  const express = options.express ?? express5;
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  if (options.users) {
    app.use((req, _res, next) => {
      const id = req.get('x-test-user');
      if (id) (req as unknown as { user: object }).user = { id, plan: req.get('x-test-plan') ?? 'free' };
      next();
    });
  }
  const chain = options.chain?.(budget, client) ?? [budget.featureBudget('chat'), budget.llmHandler({ client })];
  app.post('/chat', ...chain);
  app.use(budget.errorHandler());
  return { app, budget, upstream, client, close: () => upstream.close() };
}

/** A user message of roughly `words` tokens. */
export function words(n: number, word = 'word'): string {
  return Array.from({ length: n }, () => word).join(' ');
}

/** The daily scope of feature "chat" as featureBudget declares it with `dailyTokens: limit`: to read what it used. */
export function chatDailyScope(limit: number): ScopeRequest {
  return {
    kind: 'feature',
    key: featureScopeKey('chat'),
    limit,
    onUnavailable: 'fail-closed',
    window: { kind: 'fixed', periodAt: (now) => periodAt(now, 'day', 'UTC') },
  };
}

/** Reads a whole streamed reply of the app's POST /chat through the openai SDK, as a client would; the app listens only meanwhile. */
export async function readChatStream(
  app: express5.Express,
  body: Omit<OpenAI.ChatCompletionCreateParamsStreaming, 'model' | 'stream'>,
): Promise<OpenAI.ChatCompletionChunk[]> {
  const server = app.listen(0, '127.0.0.1');
  try {
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
    // The SDK posts to `${baseURL}/chat/completions`: the route is mounted at /chat.
    const stream = await client.chat.completions.create({ model: 'ignored', stream: true, ...body }, {
      path: '/chat',
    } as OpenAI.RequestOptions);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A test app listening on a loopback port, with the openai SDK pointed at it (its routes answer at /chat: pass `{ path: '/chat' }`). */
export interface ListeningTestApp extends TestApp {
  server: http.Server;
  port: number;
  routeClient: OpenAI;
  /** Closes the server, its connections and the upstream. */
  stop(): Promise<void>;
}

export async function listenTestApp(options: TestAppOptions = {}): Promise<ListeningTestApp> {
  const t = await startTestApp(options);
  const server = t.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const routeClient = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
  const stop = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  };
  return { ...t, server, port, routeClient, stop };
}
