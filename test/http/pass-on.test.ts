// What the budget's middlewares leave to the app: errors that are not refusals reach its error handler; SDK errors thrown before any budget ran are still answered.
import express, { type ErrorRequestHandler } from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { createTokenBudget } from '../../lib';
import { refusalOf } from '../../lib/steps/errorHandler';
import { FEATURES } from '../helpers/app';

test("an error of the app's own messages source is passed on to the app's error handler as it was thrown", async () => {
  const budget = createTokenBudget({ features: FEATURES, onWarning: () => {} });
  const thrown = new Error('the app failed');
  const seen: unknown[] = [];
  const app = express();
  app.use(express.json());
  app.post(
    '/chat',
    budget.featureBudget('chat', {
      messages: async () => {
        throw thrown;
      },
    }),
    (_req, res) => {
      res.json({});
    },
  );
  const appErrors: ErrorRequestHandler = (err, _req, res, _next) => {
    seen.push(err);
    res.status(503).json({ app: true });
  };
  app.use(appErrors);
  const res = await request(app)
    .post('/chat')
    .send({ messages: [{ role: 'user', content: 'Hi' }] });
  expect(res.status).toBe(503);
  expect(res.body).toEqual({ app: true });
  expect(seen).toEqual([thrown]);
});

test('an SDK error thrown where no budget ran is answered as the upstream failure', () => {
  const err = new OpenAI.InternalServerError(500, { message: 'upstream secret' }, 'upstream secret', new Headers());
  const refusal = refusalOf(err, undefined);
  expect(refusal?.type).toBe('upstream_error');
  expect(refusal?.message).not.toMatch(/secret/);
});
