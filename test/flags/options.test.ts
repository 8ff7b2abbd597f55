// Each option of featureFlag reaches the switch: every test here fails when its option is ignored for the default.
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import type { BudgetHttpError, FeatureFlagOptions, TokenBudgetOptions } from '../../lib';
import { optionApp, promptOf, scriptedClient } from '../helpers/options';

const flagApp = (
  options: FeatureFlagOptions,
  budget: Partial<TokenBudgetOptions> = {},
  handler?: Parameters<typeof optionApp>[2],
) =>
  optionApp(
    budget,
    (b) => [b.featureFlag('chat', options), b.featureBudget('chat'), b.llmHandler({ client: scriptedClient() })],
    handler,
  );

test('default: false keeps a flag that was never set off until it is switched on', async () => {
  const { app, budget } = flagApp({ default: false });
  const res = await request(app).post('/chat').send(promptOf(10));
  expect([res.status, res.body.error.type]).toEqual([503, 'feature_disabled']);
  await budget.flags.set('chat', true);
  await request(app).post('/chat').send(promptOf(10)).expect(200);
});

test("onReject answers the refusal, over the budget's", async () => {
  const own = (err: BudgetHttpError, _req: Request, res: Response) => void res.status(err.status).json({ own: err.type });
  const theBudget = (err: BudgetHttpError, _req: Request, res: Response) =>
    void res.status(err.status).json({ budget: err.type });
  const { app } = flagApp({ default: false, onReject: own }, { onReject: theBudget });
  const res = await request(app).post('/chat').send(promptOf(10));
  expect([res.status, res.body]).toEqual([503, { own: 'feature_disabled' }]);
});

test("errors: 'next' and 'respond', over the budget's", async () => {
  const mine = (err: BudgetHttpError, _req: Request, res: Response, _next: NextFunction) =>
    void res.status(299).json({ mine: err.type });
  const next = await request(flagApp({ default: false, errors: 'next' }, {}, mine).app)
    .post('/chat')
    .send(promptOf(10));
  expect([next.status, next.body]).toEqual([299, { mine: 'feature_disabled' }]);
  const respond = await request(flagApp({ default: false, errors: 'respond' }, { errors: 'next' }, mine).app)
    .post('/chat')
    .send(promptOf(10));
  expect([respond.status, respond.body.error.type]).toEqual([503, 'feature_disabled']);
});
