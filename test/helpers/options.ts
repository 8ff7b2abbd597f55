// Pieces of the option tests: an app around one route, exact prompts, a store that can go down, a scripted model client.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import {
  countChatTokens,
  createTokenBudget,
  memoryStore,
  StoreUnavailableError,
  type CallOptions,
  type ReserveRequest,
  type Store,
  type TokenBudget,
} from '../../lib';
import type { TokenBudgetOptions } from '../../lib';
import { words } from './app';

export const FEATURES: TokenBudgetOptions['features'] = { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } };

/** A chat body whose prompt is exactly `n` tokens for gpt-4o. */
export function promptOf(n: number): { messages: { role: 'user'; content: string }[] } {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  const messages = [{ role: 'user' as const, content: words(n - base + 1) }];
  if (countChatTokens(messages, { model: 'gpt-4o' }) !== n) throw new Error(`no prompt of ${n} tokens`);
  return { messages };
}

/** The request's user, as the app's own auth would set it (here from test headers). */
export interface TestUser {
  id: string;
  plan?: string;
  team?: string;
}
export const userOf = (req: unknown): TestUser | undefined => (req as { user?: TestUser }).user;

/** A completion as the API returns it, with its usage. */
export function completionOf(params: { model?: unknown }, completionTokens = 5, promptTokens = 10): Record<string, unknown> {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 0,
    model: params.model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

export interface ScriptedCall {
  params: Record<string, unknown>;
  options: CallOptions;
}

/** A model client whose calls are answered by `answer` (default: at once, 5 completion tokens); it records each call. */
export function scriptedClient(answer?: (call: ScriptedCall) => Promise<unknown>) {
  const calls: ScriptedCall[] = [];
  return {
    calls,
    chat: {
      completions: {
        create(params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
          const call = { params, options };
          calls.push(call);
          return answer ? answer(call) : Promise.resolve(completionOf(params));
        },
      },
    },
  };
}

/** A client that generates all the output it is allowed and bills the prompt as counted: a request spends input + its cap. */
export function spendingClient() {
  return scriptedClient(({ params }) => {
    const prompt = countChatTokens(params.messages as Parameters<typeof countChatTokens>[0], { model: String(params.model) });
    return Promise.resolve(completionOf(params, (params.max_tokens ?? params.max_completion_tokens) as number, prompt));
  });
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted
    ? Promise.resolve()
    : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** A memory store that can be taken down (every call: StoreUnavailableError), and that records each reservation asked of it. */
export interface SwitchableStore extends Store {
  down: boolean;
  reserves: ReserveRequest[];
}

export function switchableStore(): SwitchableStore {
  const inner = memoryStore();
  const unavailable = () => Promise.reject(new StoreUnavailableError('down for the test'));
  const store: SwitchableStore = {
    down: false,
    reserves: [],
    reserve: (request) => {
      store.reserves.push(request);
      return store.down ? unavailable() : inner.reserve(request);
    },
    settle: (reservation, actual) => (store.down ? unavailable() : inner.settle(reservation, actual)),
    release: (reservation) => (store.down ? unavailable() : inner.release(reservation)),
    usage: (scope) => (store.down ? unavailable() : inner.usage(scope)),
    add: (counts, batchId) => (store.down ? unavailable() : inner.add(counts, batchId)),
    spentAt: (scope, atMs) => (store.down ? unavailable() : inner.spentAt(scope, atMs)),
  };
  return store;
}

export interface OptionApp {
  app: express.Express;
  budget: TokenBudget;
}

/**
 * POST /chat guarded by `chain(budget)`, after express.json() and the app's auth
 * (`x-user`, `x-plan`, `x-team` headers → req.user), with `errorHandler` (default: budget.errorHandler()) last.
 */
export function optionApp(
  options: Partial<TokenBudgetOptions>,
  chain: (budget: TokenBudget) => RequestHandler[],
  errorHandler?: ErrorRequestHandler,
): OptionApp {
  const budget = createTokenBudget({ features: FEATURES, onWarning: () => {}, onStoreError: () => {}, ...options });
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.use((req, _res, next) => {
    const id = req.get('x-user');
    if (id) (req as unknown as { user: TestUser }).user = { id, plan: req.get('x-plan'), team: req.get('x-team') };
    next();
  });
  app.post('/chat', ...chain(budget));
  app.use(errorHandler ?? budget.errorHandler());
  return { app, budget };
}

/**
 * Sends one request to `app` on a real socket and hangs up once `called` resolves
 * (the model call is under way). Resolves when the server has seen the request close.
 */
export async function hangUpDuring(app: express.Express, body: unknown, called: Promise<void>): Promise<void> {
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const closed = new Promise<void>((resolve) => server.once('request', (_req, res) => res.once('close', () => resolve())));
  const req = http.request({
    port: (server.address() as AddressInfo).port,
    host: '127.0.0.1',
    path: '/chat',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  req.on('error', () => {});
  req.end(JSON.stringify(body));
  await called;
  req.destroy();
  await closed;
  server.close();
}
