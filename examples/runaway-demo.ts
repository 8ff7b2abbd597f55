// The runaway demo (`npm run demo`): a client that resends its whole history, without budgets and with them, and the two bills.
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI from 'openai';
import { createClient } from 'redis';
import { createTokenBudget, redisStore, type ChatMessage, type SpendAlert, type Store } from '../lib';
import { formatUsd } from '../lib/alerts/money';
import { costNanos } from '../lib/pricing/cost';
import { priceOf } from '../lib/pricing/prices';
import { startOfflineUpstream } from '../lib/testing';

const MODEL = 'gpt-4o';
/** The runaway: conversations that never end, each restarted under a new user by a retry loop. */
const SESSIONS = 3;
const TURNS = 40;
/** Tokens the offline model writes per reply. */
const REPLY_TOKENS = 200;
const BUDGETS = {
  maxInput: 4000,
  maxOutput: 300,
  userTokensPerDay: 50_000,
  hourlyAlertUsd: 0.1,
  spike: { factor: 3, minUsd: 0.05 },
  hourlyCapUsd: 0.2,
};

/** What one request did, seen by the client. */
interface Outcome {
  status: number;
  promptTokens: number;
  outputTokens: number;
  costNanos: number;
  notes: string[];
}

/** The turn's user message: the next page of a log the bot pastes in, about 600 tokens. */
function logPage(session: number, turn: number): string {
  const lines = Array.from(
    { length: 40 },
    (_, i) =>
      `03:${String(turn).padStart(2, '0')}:${String(i).padStart(2, '0')} worker-${session} retry job ${4800 + i} after timeout`,
  );
  return `Here is the next part of the log, what went wrong?\n${lines.join('\n')}`;
}

const price = priceOf(MODEL).price;
const usd = (nanos: number) => `$${formatUsd(nanos).slice(0, -3)}`;
const pad = (value: string | number, width: number) => String(value).padStart(width);
/** Column widths of the per-request table. */
const WIDTHS = [6, 7, 6, 9, 6, 7, 6, 9];

async function openStore(): Promise<{ store: Store | undefined; label: string; close(): Promise<void> }> {
  const url = process.env.REDIS_URL;
  if (!url) return { store: undefined, label: 'memory store', close: async () => {} };
  const redis = createClient({ url });
  redis.on('error', () => {});
  await redis.connect();
  // A prefix of its own per run: this hour's spend of an earlier run does not carry over.
  const prefix = `demo:${Date.now()}:`;
  return {
    store: redisStore(redis, { prefix }),
    label: `Redis ${url} (prefix ${prefix})`,
    close: async () => void (await redis.quit()),
  };
}

async function main(): Promise<void> {
  const upstream = await startOfflineUpstream({ completionTokens: (_req, cap) => Math.min(cap, REPLY_TOKENS) });
  const direct = new OpenAI({ apiKey: 'offline', baseURL: upstream.baseURL, maxRetries: 0 });
  const { store, label, close } = await openStore();

  // The app with budgets: truncate long histories, a daily quota per user, spend alerts and an hourly cap.
  const alerts: SpendAlert[] = [];
  const budget = createTokenBudget({
    ...(store ? { store } : {}),
    features: { chat: { maxInput: BUDGETS.maxInput, maxOutput: BUDGETS.maxOutput, model: MODEL } },
  });
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.post(
    '/chat',
    budget.featureBudget('chat', { onExceed: 'truncate' }),
    budget.userQuota({ user: (req) => req.get('x-demo-user'), limits: BUDGETS.userTokensPerDay }),
    budget.costMeter({
      hourlyAlertUsd: BUDGETS.hourlyAlertUsd,
      spike: BUDGETS.spike,
      hourlyCapUsd: BUDGETS.hourlyCapUsd,
      costHeader: true,
      onAlert: (alert) => void alerts.push(alert),
    }),
    budget.llmHandler({
      client: direct,
      // The demo shows what the budgets did to each request.
      respond: (completion, req) => ({
        completion,
        dropped: req.tokenBudget?.degraded?.droppedMessages ?? 0,
        outputCap: req.tokenBudget?.outputCap,
      }),
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/chat`;

  const withoutBudgets = async (history: ChatMessage[]): Promise<Outcome> => {
    const completion = await direct.chat.completions.create({ model: MODEL, messages: history as never });
    const usage = completion.usage!;
    const cost = costNanos(price, { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens });
    return { status: 200, promptTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, costNanos: cost, notes: [] };
  };

  const withBudgets = async (history: ChatMessage[], user: string): Promise<Outcome> => {
    const res = await fetch(appUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-demo-user': user },
      body: JSON.stringify({ messages: history }),
    });
    const body = (await res.json()) as {
      completion?: { usage: { prompt_tokens: number; completion_tokens: number } };
      dropped?: number;
      outputCap?: number;
      error?: { type: string };
    };
    if (!body.completion) {
      const why = body.error?.type === 'spend_cap_reached' ? 'capped: hourly spend cap reached' : `refused: ${body.error?.type}`;
      return { status: res.status, promptTokens: 0, outputTokens: 0, costNanos: 0, notes: [why] };
    }
    const notes: string[] = [];
    if (body.dropped) notes.push(`truncated: ${body.dropped} old messages dropped`);
    if (body.outputCap! < BUDGETS.maxOutput) notes.push(`output capped at ${body.outputCap} by the money left`);
    const { usage } = body.completion;
    const cost = Math.round(Number(res.headers.get('x-token-budget-cost-usd')) * 1e9);
    return {
      status: res.status,
      promptTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
      costNanos: cost,
      notes,
    };
  };

  console.log(
    `Runaway demo: ${SESSIONS} sessions × ${TURNS} turns of a client that resends its whole history (${MODEL}, offline upstream, ${label}).`,
  );
  console.log(
    `Budgets: featureBudget maxInput ${BUDGETS.maxInput} (truncate), maxOutput ${BUDGETS.maxOutput}; userQuota ${BUDGETS.userTokensPerDay.toLocaleString('en-US')} tokens/day; ` +
      `costMeter hourlyAlertUsd ${BUDGETS.hourlyAlertUsd}, spike ×${BUDGETS.spike.factor} (min $${BUDGETS.spike.minUsd}), hourlyCapUsd ${BUDGETS.hourlyCapUsd}.\n`,
  );
  const columns = (cells: (string | number)[]) =>
    cells.map((cell, i) => (i === 0 ? String(cell).padEnd(6) : pad(cell, WIDTHS[i]!))).join(' ');
  console.log(
    `  ${' '.repeat(6)} ${'─── without budgets ───'.padStart(24)} ${'─────────── with budgets ──────────'.padStart(31)}`,
  );
  console.log(`  ${columns(['turn', 'prompt', 'output', 'cost', 'status', 'prompt', 'output', 'cost'])}   what the budgets did`);
  const totals = { without: { calls: 0, prompt: 0, output: 0, cost: 0 }, with: { calls: 0, prompt: 0, output: 0, cost: 0 } };
  const add = (total: (typeof totals)['with'], outcome: Outcome) => {
    if (outcome.status !== 200) return;
    total.calls += 1;
    total.prompt += outcome.promptTokens;
    total.output += outcome.outputTokens;
    total.cost += outcome.costNanos;
  };
  // Refusals in a row are printed once, then counted: the unbudgeted run goes on paying for each.
  let repeated: { note: string; turns: number; costNanos: number } | undefined;
  const flushRepeated = () => {
    if (repeated && repeated.turns > 0) {
      console.log(
        `  ${'…'.padEnd(6)} ${repeated.turns} more turns the same way (without budgets they cost ${usd(repeated.costNanos)}; with budgets $0)`,
      );
    }
    repeated = undefined;
  };

  for (let session = 1; session <= SESSIONS; session++) {
    const user = `bot-${session}`;
    const history: ChatMessage[] = [{ role: 'system', content: 'You are a helpful log analyst.' }];
    const budgeted: ChatMessage[] = [...history];
    for (let turn = 1; turn <= TURNS; turn++) {
      const page = logPage(session, turn);
      history.push({ role: 'user', content: page });
      budgeted.push({ role: 'user', content: page });
      const a = await withoutBudgets(history);
      const b = await withBudgets(budgeted, user);
      history.push({ role: 'assistant', content: 'ok '.repeat(a.outputTokens).trim() });
      // The client keeps its history whatever the answer: that is the runaway.
      budgeted.push({ role: 'assistant', content: b.status === 200 ? 'ok '.repeat(b.outputTokens).trim() : '(error)' });
      add(totals.without, a);
      add(totals.with, b);
      // Spike checks read the previous hours in the background: let them land before printing.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const raised = alerts
        .splice(0)
        .map((alert) =>
          alert.kind === 'spike'
            ? `ALERT spike: this hour passed $${alert.thresholdUsd} (${BUDGETS.spike.factor}× the $${alert.baselineUsd} hourly average of the day before, at least $${BUDGETS.spike.minUsd})`
            : `ALERT: ${alert.window}ly spend passed $${alert.thresholdUsd} (now $${alert.spentUsd.toFixed(4)})`,
        );
      const note = [...b.notes, ...raised].join('; ');
      if (b.status !== 200 && raised.length === 0 && repeated?.note === note) {
        repeated.turns += 1;
        repeated.costNanos += a.costNanos;
        continue;
      }
      flushRepeated();
      if (b.status !== 200) repeated = { note, turns: 0, costNanos: 0 };
      const served = b.status === 200;
      const cells = [
        `${session}.${turn}`,
        a.promptTokens,
        a.outputTokens,
        usd(a.costNanos),
        b.status,
        served ? b.promptTokens : '–',
        served ? b.outputTokens : '–',
        served ? usd(b.costNanos) : '–',
      ];
      console.log(`  ${columns(cells)}   ${note}`);
    }
    flushRepeated();
  }

  const line = (name: string, without: string, withB: string) =>
    console.log(`  ${name.padEnd(22)}${pad(without, 16)}${pad(withB, 16)}`);
  console.log(`\nThe two bills (${MODEL} at $${price.input / 1e9}/$${price.output / 1e9} per 1M input/output tokens):`);
  line('', 'without budgets', 'with budgets');
  line('requests sent', String(SESSIONS * TURNS), String(SESSIONS * TURNS));
  line('calls that reached it', String(totals.without.calls), String(totals.with.calls));
  line('prompt tokens billed', totals.without.prompt.toLocaleString('en-US'), totals.with.prompt.toLocaleString('en-US'));
  line('output tokens billed', totals.without.output.toLocaleString('en-US'), totals.with.output.toLocaleString('en-US'));
  line('bill', usd(totals.without.cost), usd(totals.with.cost));
  console.log(`\nWithout budgets each request costs more than the last (the history grows), and nothing stops it.`);
  console.log(
    `With them: long histories are truncated to ${BUDGETS.maxInput} tokens, each user stops at its daily quota, the alerts fire once`,
  );
  console.log(`each in the first hour, and no hour can cost more than the $${BUDGETS.hourlyCapUsd} cap.`);

  server.close();
  await budget.store.close?.();
  await upstream.close();
  await close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
