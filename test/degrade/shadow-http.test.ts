// Shadow mode over HTTP: the same traffic makes the same decisions as enforcing, yet nothing is refused and every token is counted.
import express from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { createTokenBudget, TokenBudgetConfigError, type TokenBudget } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import type { BudgetMode, BudgetWarning, ShadowEvent, TokenBudgetOptions } from '../../lib/types';
import { promptOf } from '../helpers/options';

const features: TokenBudgetOptions['features'] = {
  chat: { maxInput: 150, maxOutput: 50, model: 'gpt-4o' },
  daily: { maxInput: 150, maxOutput: 50, model: 'gpt-4o', dailyTokens: 250 },
  tpm: { maxInput: 150, maxOutput: 50, model: 'gpt-4o' },
  spend: { maxInput: 150, maxOutput: 50, model: 'gpt-4o' },
};

interface ShadowApp {
  app: express.Express;
  budget: TokenBudget;
  upstream: OfflineUpstream;
  events: ShadowEvent[];
  warnings: BudgetWarning[];
}

let upstream: OfflineUpstream | undefined;
afterEach(() => upstream?.close());

/**
 * Four routes, each with budgets of its own: /chat (user quotas of 400, team quotas of 1000, globex's 250), /daily (the feature's
 * daily tokens), /tpm (a global limit), /spend (an hourly spend cap). Every reply has 20 output tokens.
 */
async function shadowApp(mode: BudgetMode, options: Partial<TokenBudgetOptions> = {}): Promise<ShadowApp> {
  upstream = await startOfflineUpstream({ completionTokens: (_request, cap) => Math.min(20, cap) });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.baseURL, maxRetries: 0 });
  const events: ShadowEvent[] = [];
  const warnings: BudgetWarning[] = [];
  const budget = createTokenBudget({
    features,
    mode,
    onShadow: (event) => events.push(event),
    onWarning: (warning) => warnings.push(warning),
    ...options,
  });
  const app = express();
  app.use(express.json());
  const header = (name: string) => (req: express.Request) => req.get(name);
  const llm = budget.llmHandler({ client });
  const teamTier = (req: express.Request) => (req.get('x-team') === 'globex' ? 'small' : 'big');
  app.post(
    '/chat',
    budget.featureBudget('chat'),
    budget.userQuota({ user: header('x-user'), limits: 400 }),
    budget.quota({ name: 'team', key: header('x-team'), tier: teamTier, limits: { small: 250, big: 1000 } }),
    llm,
  );
  app.post('/daily', budget.featureBudget('daily'), llm);
  app.post('/tpm', budget.featureBudget('tpm'), budget.globalTpm({ limit: 250, name: 'shadow-test' }), llm);
  // gpt-4o: 100 input tokens ($2.50/M) and 20 output ($10/M) cost $0.00045; after two, $0.00025 is left, not enough for one more output token.
  app.post('/spend', budget.featureBudget('spend'), budget.costMeter({ name: 'shadow-test', hourlyCapUsd: 0.00115 }), llm);
  app.use(budget.errorHandler());
  return { app, budget, upstream, events, warnings };
}

/** One recorded request: route, user, team, prompt tokens. */
type Recorded = [route: string, user: string | undefined, team: string | undefined, tokens: number];

/**
 * Traffic where a budget that refused once is not asked again by a request it would have
 * admitted: enforcing counts nothing of a refused request, shadow mode counts all of it.
 */
const TRAFFIC: Recorded[] = [
  ['/chat', 'alice', 'acme', 100],
  ['/chat', 'alice', 'acme', 100],
  ['/chat', 'alice', 'acme', 100],
  ['/chat', 'alice', 'acme', 100], // alice: 360 of 400 used
  ['/chat', 'bob', 'globex', 100],
  ['/chat', 'bob', 'globex', 100], // globex: 240 of 250
  ['/chat', 'dave', 'globex', 100],
  ['/chat', undefined, 'initech', 100],
  ['/chat', 'erin', 'initech', 200],
  ['/daily', undefined, undefined, 100],
  ['/daily', undefined, undefined, 100], // the feature's day: 240 of 250
  ['/daily', undefined, undefined, 100],
  ['/tpm', undefined, undefined, 100],
  ['/tpm', undefined, undefined, 100],
  ['/tpm', undefined, undefined, 100],
  ['/spend', undefined, undefined, 100],
  ['/spend', undefined, undefined, 100],
  ['/spend', undefined, undefined, 100],
];

/** What enforcing decided of each request: 'ok' or its error.type. */
const DECISIONS = [
  'ok',
  'ok',
  'ok',
  'user_quota_exceeded',
  'ok',
  'ok',
  'quota_exceeded',
  'user_required',
  'input_too_large',
  'ok',
  'ok',
  'feature_quota_exceeded',
  'ok',
  'ok',
  'global_rate_limited',
  'ok',
  'ok',
  'spend_cap_reached',
];

function send(app: express.Express, [route, user, team, tokens]: Recorded) {
  let req = request(app).post(route);
  if (user) req = req.set('x-user', user);
  if (team) req = req.set('x-team', team);
  return req.send(promptOf(tokens));
}

test('the same recorded traffic makes the same decisions in shadow and enforce mode', async () => {
  const enforced = await shadowApp('enforce');
  const decided: string[] = [];
  for (const recorded of TRAFFIC) {
    const res = await send(enforced.app, recorded);
    decided.push(res.status === 200 ? 'ok' : (res.body as { error: { type: string } }).error.type);
  }
  expect(decided).toEqual(DECISIONS);
  expect(enforced.events).toEqual([]);
  await upstream!.close();

  const shadowed = await shadowApp('shadow');
  const wouldDecide: string[] = [];
  for (const recorded of TRAFFIC) {
    const res = await send(shadowed.app, recorded);
    expect(res.status).toBe(200);
    // The first budget to refuse is the one enforcing answers with; later ones are named too.
    const named = res.headers['token-budget-shadow'] as string | undefined;
    wouldDecide.push(named === undefined ? 'ok' : named.split(', ')[0]!);
  }
  expect(wouldDecide).toEqual(DECISIONS);
  // Every call reached the model, with the feature's whole output cap: nothing was capped either.
  expect(shadowed.upstream.calls).toHaveLength(TRAFFIC.length);
  expect(shadowed.upstream.calls.map((call) => call.request.body.max_tokens)).toEqual(TRAFFIC.map(() => 50));
  // One event per would-be refusal: no budget that admitted a request is named.
  expect(shadowed.events.map((event) => event.code)).toEqual(DECISIONS.filter((d) => d !== 'ok'));
  expect(shadowed.events[2]).toEqual({
    action: 'refuse',
    code: 'user_required',
    feature: 'chat',
    scope: 'user',
    status: 401,
    message: 'This feature needs a signed-in user.',
  });
});

test('shadow mode counts every call in every budget, those that would have refused included', async () => {
  const { app, budget, events } = await shadowApp('shadow');
  for (let i = 0; i < 5; i++) await send(app, ['/chat', 'bob', 'globex', 100]).expect(200);
  // 100 input + 20 output each: the user's 400 and the team's 250 are passed, not capped.
  expect(await budget.usage.user('bob')).toMatchObject({ used: 600, limit: 400, remaining: 0 });
  expect(await budget.usage.quota('team', 'globex', 'small')).toMatchObject({ used: 600, limit: 250, remaining: 0 });
  expect(events.map((event) => `${event.scope}:${event.code}`)).toEqual([
    'team:quota_exceeded',
    'user:user_quota_exceeded',
    'team:quota_exceeded',
    'user:user_quota_exceeded',
    'team:quota_exceeded',
  ]);
  // What the store would have answered: bob had 40 left of 400 before his fourth request.
  expect(events[1]).toMatchObject({ status: 429, message: expect.stringContaining('has 40 left') });
});

test('the RateLimit headers of a shadow budget show its real limit', async () => {
  const { app } = await shadowApp('shadow');
  const res = await send(app, ['/chat', 'alice', 'acme', 100]).expect(200);
  expect(res.headers['ratelimit-policy']).toBe('"user";q=400;w=86400, "team";q=1000;w=86400');
  expect(res.headers.ratelimit).toMatch(/^"user";r=280;t=\d+, "team";r=880;t=\d+$/);
  expect(res.headers['token-budget-shadow']).toBeUndefined();
});

test('without onShadow, each code is warned once', async () => {
  const { app, warnings } = await shadowApp('shadow', { onShadow: undefined });
  for (let i = 0; i < 4; i++) await send(app, ['/chat', undefined, undefined, 100]).expect(200);
  expect(warnings.map((w) => w.code)).toEqual(['TB_SHADOW_USER_REQUIRED', 'TB_SHADOW_PRINCIPAL_REQUIRED']);
  expect(warnings[0]!.message).toBe(
    'Shadow mode: a request of feature "chat" would have been refused 401 user_required: This feature needs a signed-in user. (reported once per code; pass onShadow to see each).',
  );
});

test("a middleware's mode overrides the budget's: an enforced user quota refuses under a shadow budget", async () => {
  upstream = await startOfflineUpstream({ completionTokens: () => 20 });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.baseURL, maxRetries: 0 });
  const events: ShadowEvent[] = [];
  const budget = createTokenBudget({ features, mode: 'shadow', onShadow: (event) => events.push(event) });
  const app = express();
  app.use(express.json());
  app.post(
    '/chat',
    budget.featureBudget('chat', { onExceed: 'truncate' }),
    budget.userQuota({ user: (req) => req.get('x-user'), limits: 300, mode: 'enforce' }),
    budget.llmHandler({ client }),
  );
  app.use(budget.errorHandler());
  // 200 tokens over maxInput 150: shadow mode sends it whole and says truncate would have cut it.
  const big = await send(app, ['/chat', 'alice', undefined, 200]).expect(200);
  expect(big.headers['token-budget-shadow']).toBe('truncate');
  expect(upstream.calls[0]!.request.body.messages).toEqual(promptOf(200).messages);
  expect(events).toEqual([
    {
      action: 'degrade',
      code: 'truncate',
      feature: 'chat',
      message: 'The input has 200 tokens; this feature accepts at most 150 input tokens. It would have been degraded (truncate).',
    },
  ]);
  // The enforced quota still caps the output (80 left: 60 input, 20 output) and then refuses.
  await send(app, ['/chat', 'alice', undefined, 60]).expect(200);
  expect(upstream.calls[1]!.request.body.max_tokens).toBe(20);
  const refused = await send(app, ['/chat', 'alice', undefined, 50]).expect(429);
  expect(refused.body.error.type).toBe('user_quota_exceeded');
  expect(upstream.calls).toHaveLength(2);
});

test('a mode that is neither enforce nor shadow is a configuration error', () => {
  expect(() => createTokenBudget({ features, mode: 'dry-run' as BudgetMode })).toThrow(
    new TokenBudgetConfigError('TB_INVALID_OPTION', "mode must be 'enforce' or 'shadow'; got \"dry-run\"."),
  );
  const budget = createTokenBudget({ features });
  expect(() => budget.globalTpm({ limit: 10, mode: 'off' as BudgetMode })).toThrow(
    "globalTpm.mode must be 'enforce' or 'shadow'; got \"off\".",
  );
});
