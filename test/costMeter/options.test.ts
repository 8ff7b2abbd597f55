// Each option of costMeter (and the budget's prices) reaches the meter: every test here fails when its option is ignored for the default.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Request, Response } from 'express';
import request from 'supertest';
import { createTokenBudget, TokenBudgetConfigError } from '../../lib';
import type { BudgetHttpError, BudgetWarning, CostMeterOptions, SpendAlert, TokenBudgetOptions } from '../../lib';
import {
  completionOf,
  optionApp,
  scriptedClient,
  spendingClient,
  switchableStore,
  type SwitchableStore,
} from '../helpers/options';
import { until } from '../helpers/until';

const features = {
  chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o' },
  quick: { maxInput: 200, maxOutput: 50, model: 'gpt-4o-mini' },
};
const chatBody = { messages: [{ role: 'user', content: 'How much?' }] };
/** Every call bills 10 prompt and 5 completion tokens. */
const billing = () => scriptedClient(({ params }) => Promise.resolve(completionOf(params, 5, 10)));
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

interface MeterApp {
  app: ReturnType<typeof optionApp>['app'];
  alerts: SpendAlert[];
  warnings: BudgetWarning[];
  /** Resolves with the alerts once `n` have arrived. */
  nextAlerts(n: number): Promise<SpendAlert[]>;
}

function meterApp(
  meter: CostMeterOptions,
  budget: Partial<TokenBudgetOptions> = {},
  feature: (req: Request) => string = () => 'chat',
  client = billing(),
): MeterApp {
  const alerts: SpendAlert[] = [];
  const warnings: BudgetWarning[] = [];
  let waiting: (() => void) | undefined;
  const onAlert = (alert: SpendAlert) => {
    alerts.push(alert);
    waiting?.();
  };
  const { app } = optionApp({ features, onWarning: (w) => warnings.push(w), ...budget }, (b) => {
    const metered = b.costMeter({ onAlert, ...meter });
    return [(req, res, next) => b.featureBudget(feature(req))(req, res, next), metered, b.llmHandler({ client })];
  });
  const nextAlerts = async (n: number) => {
    while (alerts.length < n) await new Promise<void>((resolve) => (waiting = resolve));
    return alerts;
  };
  return { app, alerts, warnings, nextAlerts };
}

const chat = (app: MeterApp['app'], feature?: string) => {
  const req = request(app).post('/chat');
  return (feature ? req.set('x-feature', feature) : req).send(chatBody);
};

describe('costHeader and prices', () => {
  test('costHeader: true names it X-Token-Budget-Cost-USD; a string names it', async () => {
    // gpt-4o: $2.50 and $10 per 1M tokens → 10 × 2,500 + 5 × 10,000 nano-USD.
    const named = meterApp({ costHeader: true });
    expect((await chat(named.app)).headers['x-token-budget-cost-usd']).toBe('0.000075000');
    const custom = meterApp({ costHeader: 'X-Cost' });
    const res = await chat(custom.app);
    expect(res.headers['x-cost']).toBe('0.000075000');
    expect(res.headers['x-token-budget-cost-usd']).toBeUndefined();
  });

  test("prices replace the published row: the request's cost is at the app's price", async () => {
    const { app } = meterApp({ costHeader: true }, { prices: { 'gpt-4o': { input: 1, output: 2 } } });
    expect((await chat(app)).headers['x-token-budget-cost-usd']).toBe('0.000020000');
  });

  test('fallbackPrice prices a model no row matches; without it the meter refuses to start', async () => {
    const budget = {
      features: { chat: { maxInput: 200, maxOutput: 50, model: 'acme-llm-1' } },
      unknownModelEncoding: 'o200k_base' as const,
    };
    expect(() => meterApp({}, budget)).toThrow(TokenBudgetConfigError);
    const { app } = meterApp({ costHeader: true }, { ...budget, fallbackPrice: { input: 3, output: 4 } });
    expect((await chat(app)).headers['x-token-budget-cost-usd']).toBe('0.000050000');
  });
});

describe('alerts', () => {
  test('hourlyAlertUsd: each threshold once, for the hour', async () => {
    const { app, nextAlerts, alerts } = meterApp({ hourlyAlertUsd: [0.0001, 0.00015] });
    await chat(app).expect(200);
    await chat(app).expect(200);
    await chat(app).expect(200);
    expect((await nextAlerts(2)).map((a) => [a.kind, a.window, a.thresholdUsd])).toEqual([
      ['threshold', 'hour', 0.0001],
      ['threshold', 'hour', 0.00015],
    ]);
    await chat(app).expect(200);
    expect(alerts).toHaveLength(2);
  });

  test('dailyAlertUsd: the threshold of the day', async () => {
    const { app, nextAlerts } = meterApp({ dailyAlertUsd: 0.0001 });
    await chat(app).expect(200);
    await chat(app).expect(200);
    expect((await nextAlerts(1)).map((a) => [a.window, a.thresholdUsd, a.spentUsd])).toEqual([['day', 0.0001, 0.00015]]);
  });

  test('name: the meter named in its alerts', async () => {
    const { app, nextAlerts } = meterApp({ name: 'ops', hourlyAlertUsd: 0.00001 });
    await chat(app).expect(200);
    expect((await nextAlerts(1))[0]!.meter).toBe('ops');
  });

  test('timeZone: the day of the given zone (Tokyo’s starts at 15:00 UTC)', async () => {
    const { app, nextAlerts } = meterApp({ timeZone: 'Asia/Tokyo', dailyAlertUsd: 0.00001 });
    await chat(app).expect(200);
    const tokyo = 9 * HOUR_MS;
    const start = new Date(Math.floor((Date.now() + tokyo) / DAY_MS) * DAY_MS - tokyo).toISOString();
    const [alert] = await nextAlerts(1);
    // A Tokyo midnight passed meanwhile would move the start by a day: read again after.
    const after = new Date(Math.floor((Date.now() + tokyo) / DAY_MS) * DAY_MS - tokyo).toISOString();
    expect([start, after]).toContain(alert!.windowStart);
  });

  test("per: 'feature' gives each feature its own spend, named in its alerts", async () => {
    const { app, nextAlerts } = meterApp({ per: 'feature', hourlyAlertUsd: 0.0001 }, {}, (req) => req.get('x-feature') ?? 'chat');
    await chat(app, 'chat').expect(200);
    await chat(app, 'quick').expect(200);
    await chat(app, 'chat').expect(200);
    const [alert] = await nextAlerts(1);
    expect([alert!.feature, alert!.spentUsd]).toEqual(['chat', 0.00015]);
  });

  describe('spike', () => {
    /** A store whose every past hour spent $1 (spentAt of earlier hours), and each call costs $1.50. */
    function spikeApp(spike: CostMeterOptions['spike']) {
      const store = switchableStore() as SwitchableStore & Required<Pick<SwitchableStore, 'spentAt'>>;
      const present = store.spentAt.bind(store);
      const hourStart = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
      store.spentAt = async (scope, atMs) => {
        const now = await present(scope, atMs);
        return atMs.map((at, i) => (at < hourStart ? 1e9 : now[i]!));
      };
      // $0.10 per token: 15 tokens a call.
      return meterApp({ spike }, { store, prices: { 'gpt-4o': { input: 100_000, output: 100_000 } } });
    }

    test('factor: the hour is a spike once it passes factor × the hourly average of the day before', async () => {
      const { app, nextAlerts, alerts } = spikeApp({ factor: 2, minUsd: 0.01 });
      await chat(app).expect(200); // $1.50: not past 2 × $1
      await chat(app).expect(200); // $3
      const [alert] = await nextAlerts(1);
      expect([alert!.kind, alert!.spentUsd, alert!.baselineUsd]).toEqual(['spike', 3, 1]);
      expect(alerts).toHaveLength(1);
    });

    test('minUsd: a spike must reach it', async () => {
      const { app, nextAlerts } = spikeApp({ factor: 0.5, minUsd: 2.5 });
      await chat(app).expect(200); // $1.50: past 0.5 × $1, below $2.50
      await chat(app).expect(200);
      expect((await nextAlerts(1)).map((a) => [a.kind, a.thresholdUsd, a.spentUsd])).toEqual([['spike', 2.5, 3]]);
    });
  });
});

describe('caps', () => {
  test('hourlyCapUsd: what does not fit this hour is refused 503 spend_cap_reached until the hour ends', async () => {
    // The first call spends its whole worst case (~$0.000525): nothing is left for a second.
    const { app } = meterApp({ hourlyCapUsd: 0.00053 }, {}, undefined, spendingClient());
    await chat(app).expect(200);
    const res = await chat(app);
    expect([res.status, res.body.error.type]).toEqual([503, 'spend_cap_reached']);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(3600);
  });

  test('dailyCapUsd: the same for the day, until midnight', async () => {
    const { app } = meterApp({ dailyCapUsd: 0.00053 }, {}, undefined, spendingClient());
    await chat(app).expect(200);
    const res = await chat(app);
    expect([res.status, res.body.error.type]).toEqual([503, 'spend_cap_reached']);
    const untilMidnight = (DAY_MS - (Date.now() % DAY_MS)) / 1000;
    expect(Math.abs(Number(res.headers['retry-after']) - untilMidnight)).toBeLessThan(5);
  });
});

describe("onStoreUnavailable overrides the budget's while the store is down", () => {
  const down = (policy: CostMeterOptions['onStoreUnavailable'], budget: 'fail-open' | 'fail-closed') => {
    const store = switchableStore();
    store.down = true;
    return chat(meterApp({ hourlyCapUsd: 1, onStoreUnavailable: policy }, { store, onStoreUnavailable: budget }).app);
  };

  test("'fail-open' under a fail-closed budget: served", async () => {
    expect((await down('fail-open', 'fail-closed')).status).toBe(200);
  });

  test("'fail-closed' under a fail-open budget: 503 budget_unavailable", async () => {
    const res = await down('fail-closed', 'fail-open');
    expect([res.status, res.body.error.type]).toEqual([503, 'budget_unavailable']);
  });
});

test('spend settled after an outage crosses thresholds too: its hand-back is alerted, once for a meter mounted twice', async () => {
  const store = switchableStore();
  const alerts: SpendAlert[] = [];
  const meter = { hourlyAlertUsd: 0.0001, onAlert: (alert: SpendAlert) => void alerts.push(alert) };
  const { app } = optionApp({ features, store, onStoreUnavailable: 'fallback' }, (b) => [
    b.featureBudget('chat'),
    b.costMeter(meter),
    b.costMeter(meter),
    b.llmHandler({ client: billing() }),
  ]);
  await chat(app).expect(200);
  store.down = true;
  await chat(app).expect(200);
  // Counted in the fallback, whose own counter is not the meter's spend: nothing is alerted yet.
  expect(alerts).toEqual([]);
  store.down = false;
  // Nothing more comes: the store hands back by itself once its cool-down (1 s) has passed.
  await until(() => alerts.length > 0);
  await chat(app).expect(200);
  expect(alerts.map((a) => [a.window, a.thresholdUsd, a.spentUsd])).toEqual([['hour', 0.0001, 0.00015]]);
});

test("errors and onReject answer what the meter refuses (here: no featureBudget before it), over the budget's", async () => {
  const own = (err: BudgetHttpError, _req: Request, res: Response) => void res.status(err.status).json({ own: err.type });
  const theBudget = (err: BudgetHttpError, _req: Request, res: Response) =>
    void res.status(err.status).json({ budget: err.type });
  const shaped = optionApp({ features, onReject: theBudget }, (b) => [b.costMeter({ onReject: own })]);
  expect((await request(shaped.app).post('/chat').send(chatBody)).body).toEqual({ own: 'internal_error' });
  const passed = optionApp(
    { features },
    (b) => [b.costMeter({ errors: 'next' })],
    (err, _req, res, _next) => void res.status(299).json({ mine: err.type }),
  );
  const res = await request(passed.app).post('/chat').send(chatBody);
  expect([res.status, res.body]).toEqual([299, { mine: 'internal_error' }]);
});

describe('webhook', () => {
  interface Hook {
    url: string;
    received: { body: unknown; headers: http.IncomingHttpHeaders }[];
    close(): void;
  }
  let hook: Hook | undefined;
  afterEach(() => hook?.close());

  /** A receiver answering the n-th POST (1-based) with `answer(n)`: a status, or 'hang'. */
  async function receiver(answer: (n: number) => number | 'hang'): Promise<Hook> {
    const received: Hook['received'] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ body: JSON.parse(Buffer.concat(chunks).toString()), headers: req.headers });
        const status = answer(received.length);
        if (status !== 'hang') res.writeHead(status).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    return {
      url,
      received,
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  }

  test('url and headers: the alert is POSTed as JSON with the configured headers', async () => {
    hook = await receiver(() => 204);
    const { app } = meterApp({
      hourlyAlertUsd: 0.00001,
      webhook: { url: hook.url, headers: { authorization: 'Bearer hook-secret' } },
    });
    await chat(app).expect(200);
    await until(() => hook!.received.length === 1);
    expect(hook.received[0]!.body).toMatchObject({ kind: 'threshold', window: 'hour', thresholdUsd: 0.00001 });
    expect(hook.received[0]!.headers.authorization).toBe('Bearer hook-secret');
  });

  test('retries: 1 + retries attempts, then TB_ALERT_WEBHOOK_FAILED', async () => {
    hook = await receiver(() => 500);
    const meter = meterApp({ hourlyAlertUsd: 0.00001, webhook: { url: hook.url, retries: 1, backoffMs: 1 } });
    await chat(meter.app).expect(200);
    await until(() => meter.warnings.length > 0);
    expect(meter.warnings.map((w) => w.code)).toEqual(['TB_ALERT_WEBHOOK_FAILED']);
    expect(hook.received).toHaveLength(2);
  });

  test('backoffMs: six retries 1 ms apart, doubled each time, end within the test (500 ms apart would take 31 s)', async () => {
    hook = await receiver((n) => (n <= 6 ? 503 : 200));
    const { app } = meterApp({ hourlyAlertUsd: 0.00001, webhook: { url: hook.url, retries: 6, backoffMs: 1 } });
    await chat(app).expect(200);
    await until(() => hook!.received.length === 7);
  }, 15_000);

  test('timeoutMs: an attempt left unanswered is given up after it (5 s each by default)', async () => {
    hook = await receiver((n) => (n <= 3 ? 'hang' : 200));
    const { app } = meterApp({ hourlyAlertUsd: 0.00001, webhook: { url: hook.url, timeoutMs: 100, retries: 3, backoffMs: 1 } });
    await chat(app).expect(200);
    await until(() => hook!.received.length === 4);
  }, 12_000);
});

describe('spike and the store', () => {
  /** A store of the app's own that counts but keeps no past spend (no spentAt). */
  const storeWithoutPast = () => {
    const { spentAt: _spentAt, ...rest } = switchableStore();
    return rest;
  };

  test('a store that keeps no past spend refuses spike at start-up: its baseline would be the outage counts only', () => {
    const budget = createTokenBudget({
      features: { chat: { maxInput: 100, maxOutput: 10, model: 'gpt-4o' } },
      store: storeWithoutPast(),
    });
    expect(() => budget.costMeter({ spike: { factor: 3 }, onAlert: () => {} })).toThrow(
      new TokenBudgetConfigError(
        'TB_INVALID_OPTION',
        'costMeter("spend").spike needs a store that reads past spend (spentAt), as memoryStore and redisStore do.',
      ),
    );
    // Without spike, such a store meters spend.
    const withoutSpike = createTokenBudget({
      features: { chat: { maxInput: 100, maxOutput: 10, model: 'gpt-4o' } },
      store: storeWithoutPast(),
    });
    expect(() => withoutSpike.costMeter({ hourlyCapUsd: 1 })).not.toThrow();
  });

  test('a store that keeps past spend takes spike', () => {
    const budget = createTokenBudget({
      features: { chat: { maxInput: 100, maxOutput: 10, model: 'gpt-4o' } },
      store: switchableStore(),
    });
    expect(() => budget.costMeter({ spike: { factor: 3 }, onAlert: () => {} })).not.toThrow();
  });
});
