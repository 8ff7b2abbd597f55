// The example app (`npm start`): three features behind token budgets, OpenAI or an offline upstream.
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import OpenAI from 'openai';
import { createTokenBudget } from '../lib';
import { startOfflineUpstream } from '../lib/testing';

/** Demo sign-in: in a real app `req.user` comes from your session or auth middleware. */
const DEMO_USERS: Record<string, { id: string; plan: 'free' | 'pro' | 'enterprise' }> = {
  'demo-free': { id: 'alice', plan: 'free' },
  'demo-pro': { id: 'bob', plan: 'pro' },
  'demo-enterprise': { id: 'carol', plan: 'enterprise' },
};

/**
 * DEMO ONLY: the dashboard's sign-in is HTTP Basic with a fixed password (admin / demo, or
 * ADMIN_PASSWORD), so a browser asks for it. A real app authorizes with its own sessions and roles.
 */
const DEMO_ADMIN = `Basic ${Buffer.from(`admin:${process.env.ADMIN_PASSWORD ?? 'demo'}`).toString('base64')}`;
const isDemoAdmin = (req: Request) => req.get('authorization') === DEMO_ADMIN;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      user?: { id: string; plan: string };
    }
  }
}

async function main(): Promise<void> {
  let client: OpenAI;
  if (process.env.OPENAI_API_KEY) {
    client = new OpenAI();
    console.log('Using the OpenAI API (OPENAI_API_KEY is set).');
  } else {
    const upstream = await startOfflineUpstream();
    client = new OpenAI({ apiKey: 'offline', baseURL: upstream.baseURL });
    console.log(`OPENAI_API_KEY is not set: using the offline upstream at ${upstream.baseURL} (deterministic replies).`);
  }

  const budget = createTokenBudget({
    features: {
      chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', dailyTokens: 5_000_000, onExceed: 'truncate' },
      summarize: { maxInput: 16_000, maxOutput: 500, model: 'gpt-4o-mini' },
      quick_answer: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' },
    },
  });
  budget.warmup();

  const quota = budget.userQuota({
    user: (req) => req.user?.id,
    tier: (req) => req.user?.plan,
    limits: { free: 10_000, pro: 100_000, enterprise: 1_000_000 },
  });
  const tpm = budget.globalTpm({ limit: 1_000_000 });
  const spend = budget.costMeter({
    hourlyAlertUsd: [0.01, 0.05],
    hourlyCapUsd: 0.1,
    onAlert: (alert) => console.log(`token-budget alert: $${alert.spentUsd} spent this ${alert.window}`),
  });
  const callModel = budget.llmHandler({ client });

  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.use((req, _res, next) => {
    const token = req.get('authorization')?.replace(/^Bearer /, '');
    if (token && DEMO_USERS[token]) req.user = DEMO_USERS[token];
    next();
  });

  app.post('/chat', budget.featureFlag('chat'), budget.featureBudget('chat'), quota, tpm, spend, callModel);
  app.post(
    '/summarize',
    budget.featureFlag('summarize'),
    budget.featureBudget('summarize', { onExceed: 'reject' }),
    quota,
    tpm,
    spend,
    callModel,
  );
  app.post(
    '/quick-answer',
    budget.featureFlag('quick_answer'),
    budget.featureBudget('quick_answer'),
    quota,
    tpm,
    spend,
    callModel,
  );
  app.get('/budget', budget.usageHandler());
  app.use('/admin', budget.adminRouter({ authorize: isDemoAdmin, challenge: 'Basic realm="token-budget demo"' }));
  app.use(budget.errorHandler());

  const port = Number(process.env.PORT ?? 3000);
  // Express 5 hands a listening error to this callback (the server emits no unhandled 'error').
  const server = app.listen(port, (err?: NodeJS.ErrnoException) => {
    if (err?.code === 'EADDRINUSE') {
      console.error(`Port ${port} is already in use: start with another, e.g. PORT=3001 npm start`);
      process.exit(1);
    }
    if (err) throw err;
    const { port: listening } = server.address() as AddressInfo;
    console.log(`token-budget example on http://localhost:${listening}`);
    console.log(
      `  curl -s localhost:${listening}/chat -H 'authorization: Bearer demo-free' -H 'content-type: application/json' ` +
        `-d '{"messages":[{"role":"user","content":"Hello!"}]}'`,
    );
    console.log(`  curl -s localhost:${listening}/budget -H 'authorization: Bearer demo-free'`);
    console.log(
      `Dashboard: http://localhost:${listening}/admin/ (demo sign-in: admin / ${process.env.ADMIN_PASSWORD ? '$ADMIN_PASSWORD' : 'demo'})`,
    );
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
