// budget.adminRouter() on Express over the memory store: the features, usage, rankings and meters the budget hands the router.
import request from 'supertest';
import { startTestApp, words, type TestApp } from '../helpers/app';

let t: TestApp | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

/**
 * An app whose /admin lets in `x-admin: yes`, after `calls` of its users. Built in each test, not in a beforeAll:
 * a mutation run counts code run outside a test as run by none, and would not test adminRouter against it.
 */
async function adminApp(calls: [user: string, tokens: number][] = []): Promise<TestApp> {
  t = await startTestApp({
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => req.get('x-test-user'), limits: 100_000 }),
      b.costMeter({ hourlyCapUsd: 5 }),
      b.llmHandler({ client }),
    ],
  });
  t.app.use('/admin', t.budget.adminRouter({ authorize: (req) => req.get('x-admin') === 'yes' }));
  for (const [user, n] of calls) {
    const res = await request(t.app)
      .post('/chat')
      .set('x-test-user', user)
      .send({ messages: [{ role: 'user', content: words(n) }] });
    expect(res.status).toBe(200);
  }
  await t.upstream.idle();
  return t;
}

const admin = (app: TestApp, path: string) => request(app.app).get(`/admin${path}`).set('x-admin', 'yes');

test('refuses a request that authorize() does not let in', async () => {
  const app = await adminApp();
  expect((await request(app.app).get('/admin/api/flags')).status).toBe(403);
});

test("lists a flag for each of the budget's features", async () => {
  const app = await adminApp();
  expect((await admin(app, '/api/flags')).body).toEqual({
    flags: [
      { name: 'chat', on: true, set: false },
      { name: 'reasoning', on: true, set: false },
    ],
  });
});

test("reads a principal's usage of the user quota as budget.usage does; 404 for a quota never created", async () => {
  const app = await adminApp([['alice', 30]]);
  const res = await admin(app, '/api/quotas/user/alice');
  expect(res.status).toBe(200);
  expect(res.body).toEqual(JSON.parse(JSON.stringify(await app.budget.usage.user('alice'))));
  expect(res.body.used).toBeGreaterThan(0);
  expect((await admin(app, '/api/quotas/team/alice')).status).toBe(404);
});

test('ranks the principals by the tokens they used today, once the router is built', async () => {
  const app = await adminApp([
    ['alice', 30],
    ['bob', 10],
  ]);
  // The rankings are written after each settle, off the request's path.
  let principals: { quota: string; id: string; tokens: number }[] = [];
  for (let i = 0; i < 100 && principals.length < 2; i++) {
    principals = (await admin(app, '/api/principals/top')).body.principals;
    if (principals.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(principals).toEqual([
    { quota: 'user', id: 'alice', tokens: (await app.budget.usage.user('alice')).used },
    { quota: 'user', id: 'bob', tokens: (await app.budget.usage.user('bob')).used },
  ]);
});

test("shows the budget's cost meters", async () => {
  const app = await adminApp();
  expect((await admin(app, '/api/meters')).body.meters).toEqual([expect.objectContaining({ name: 'spend', hourlyCapUsd: 5 })]);
});
