// budget.adminRouter() on Express over the memory store: the features, usage, rankings and meters the budget hands the router.
import request from 'supertest';
import { startTestApp, words, type TestApp } from '../helpers/app';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => req.get('x-test-user'), limits: 100_000 }),
      b.costMeter({ hourlyCapUsd: 5 }),
      b.llmHandler({ client }),
    ],
  });
  t.app.use('/admin', t.budget.adminRouter({ authorize: (req) => req.get('x-admin') === 'yes' }));
  for (const [user, n] of [
    ['alice', 30],
    ['bob', 10],
  ] as const) {
    const res = await request(t.app)
      .post('/chat')
      .set('x-test-user', user)
      .send({ messages: [{ role: 'user', content: words(n) }] });
    expect(res.status).toBe(200);
  }
  await t.upstream.idle();
});

afterAll(() => t.close());

const admin = (path: string) => request(t.app).get(`/admin${path}`).set('x-admin', 'yes');

test('refuses a request that authorize() does not let in', async () => {
  expect((await request(t.app).get('/admin/api/flags')).status).toBe(403);
});

test("lists a flag for each of the budget's features", async () => {
  expect((await admin('/api/flags')).body).toEqual({
    flags: [
      { name: 'chat', on: true, set: false },
      { name: 'reasoning', on: true, set: false },
    ],
  });
});

test("reads a principal's usage of the user quota as budget.usage does; 404 for a quota never created", async () => {
  const res = await admin('/api/quotas/user/alice');
  expect(res.status).toBe(200);
  expect(res.body).toEqual(JSON.parse(JSON.stringify(await t.budget.usage.user('alice'))));
  expect(res.body.used).toBeGreaterThan(0);
  expect((await admin('/api/quotas/team/alice')).status).toBe(404);
});

test('ranks the principals by the tokens they used today, once the router is built', async () => {
  // The rankings are written after each settle, off the request's path.
  let principals: { quota: string; id: string; tokens: number }[] = [];
  for (let i = 0; i < 100 && principals.length < 2; i++) {
    principals = (await admin('/api/principals/top')).body.principals;
    if (principals.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(principals).toEqual([
    { quota: 'user', id: 'alice', tokens: (await t.budget.usage.user('alice')).used },
    { quota: 'user', id: 'bob', tokens: (await t.budget.usage.user('bob')).used },
  ]);
});

test("shows the budget's cost meters", async () => {
  expect((await admin('/api/meters')).body.meters).toEqual([expect.objectContaining({ name: 'spend', hourlyCapUsd: 5 })]);
});
