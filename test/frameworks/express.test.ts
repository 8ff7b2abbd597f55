// What the Express adapter does at its edges: a refusal after the app's answer is under way is cut and passed on to the app's error handler.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { createTokenBudget } from '../../lib';
import { FEATURES, words } from '../helpers/app';

test("a refusal once the app's answer is under way is not written into it: the answer is cut, and the refusal reaches the next error handler", async () => {
  const budget = createTokenBudget({ features: FEATURES, onWarning: () => {} });
  const seen: unknown[] = [];
  const writesFirst: RequestHandler = async (req, res, next) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
    try {
      await req.tokenBudget!.run(async () => 'never');
    } catch (err) {
      next(err);
    }
  };
  const recordsErrors: ErrorRequestHandler = (err, _req, res, _next) => {
    seen.push(err);
    res.end();
  };
  const app = express()
    .use(express.json())
    .post('/', budget.featureBudget('chat'), budget.userQuota({ user: () => 'u1', limits: 5 }), writesFirst)
    .use(budget.errorHandler(), recordsErrors);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const answer = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: words(10) }] }),
    }).then((res) => res.text());
    // The client sees the answer fail rather than a JSON error glued to its first bytes.
    await expect(answer).rejects.toThrow(/fetch failed|terminated/);
    expect(seen).toEqual([expect.objectContaining({ type: 'user_quota_exceeded', status: 429 })]);
  } finally {
    server.close();
  }
});
