// The alert sinks against a local HTTP server: JSON POST, retries with backoff, time-out, failures told to warn, never waited for.
import { createAlertSender } from '../../lib/alerts/sinks';
import { deliver, readWebhook } from '../../lib/alerts/webhook';
import type { SpendAlert } from '../../lib';
import { startReceiver } from './receiver';

const ALERT: SpendAlert = {
  kind: 'threshold',
  window: 'hour',
  thresholdUsd: 50,
  spentUsd: 50.25,
  at: '2026-11-28T15:20:00.000Z',
  windowStart: '2026-11-28T15:00:00.000Z',
  meter: 'spend',
};

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
let hook: Receiver | undefined;
afterEach(async () => hook?.close());

const config = (url: string, extra: object = {}) => readWebhook({ url, backoffMs: 10, ...extra }, 'webhook')!;

describe('deliver', () => {
  it('POSTs the alert as JSON with the configured headers', async () => {
    hook = await startReceiver(() => 204);
    const delivery = await deliver(config(hook.url, { headers: { authorization: 'Bearer t' } }), ALERT);
    expect(delivery).toEqual({ ok: true, attempts: 1 });
    expect(hook.received[0]!.body).toEqual(ALERT);
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    expect(hook.received[0]!.headers.authorization).toBe('Bearer t');
  });

  it('tries again after 5xx and 429, and stops at the first success', async () => {
    const statuses = [500, 429, 503, 200];
    hook = await startReceiver((n) => statuses[n - 1]!);
    expect(await deliver(config(hook.url), ALERT)).toEqual({ ok: true, attempts: 4 });
    expect(hook.received).toHaveLength(4);
  });

  it('gives an attempt up after its time-out and tries again', async () => {
    hook = await startReceiver((n) => (n === 1 ? 'hang' : 200));
    expect(await deliver(config(hook.url, { timeoutMs: 200 }), ALERT)).toEqual({ ok: true, attempts: 2 });
  });

  it('stops after 1 + retries attempts, or at once when the receiver refuses the alert (4xx)', async () => {
    hook = await startReceiver((n) => (n <= 3 ? 502 : 400));
    expect(await deliver(config(hook.url, { retries: 2 }), ALERT)).toEqual({ ok: false, attempts: 3, reason: 'HTTP 502' });
    expect(await deliver(config(hook.url, { retries: 2 }), ALERT)).toEqual({ ok: false, attempts: 1, reason: 'HTTP 400' });
    expect(hook.received).toHaveLength(4);
  });

  it('retries a refused connection', async () => {
    hook = await startReceiver(() => 200);
    const { url } = hook;
    await hook.close();
    hook = undefined;
    const delivery = await deliver(config(url, { retries: 1 }), ALERT);
    expect(delivery).toMatchObject({ ok: false, attempts: 2, reason: expect.stringMatching(/^network error/) });
  });
});

describe('readWebhook', () => {
  it('reads a URL alone with the defaults', () => {
    expect(readWebhook('https://hooks.example.com/x', 'webhook')).toEqual({
      url: new URL('https://hooks.example.com/x'),
      timeoutMs: 5000,
      retries: 3,
      backoffMs: 500,
      headers: {},
    });
  });

  it.each([
    ['ftp://example.com', /webhook\.url must be an http\(s\) URL/],
    ['not a url', /webhook\.url must be an http\(s\) URL/],
    [{ url: 'http://x', retries: -1 }, /webhook\.retries must be an integer from 0 to 10/],
    [{ url: 'http://x', timeoutMs: 0 }, /webhook\.timeoutMs must be a positive integer/],
    [{ url: 'http://x', headers: { a: 1 } }, /webhook\.headers must be an object/],
  ])('refuses %j', (option, message) => {
    expect(() => readWebhook(option as never, 'webhook')).toThrow(message);
  });
});

describe('createAlertSender', () => {
  it('returns before the webhook has even been reached, and reports a final failure with the origin only', async () => {
    hook = await startReceiver(() => 500);
    const warnings: string[] = [];
    const failed = new Promise<void>((resolve) => {
      const send = createAlertSender({ onAlert: undefined, webhook: config(hook!.url, { retries: 1 }) }, (code, message) => {
        warnings.push(`${code}: ${message}`);
        resolve();
      });
      send(ALERT);
      expect(hook!.received).toHaveLength(0);
    });
    await failed;
    expect(hook.received).toHaveLength(2);
    expect(warnings).toEqual([
      `TB_ALERT_WEBHOOK_FAILED: A threshold alert could not be posted to ${new URL(hook.url).origin} after 2 attempt(s): HTTP 500.`,
    ]);
    expect(warnings[0]).not.toContain('SECRET-TOKEN');
  });

  it('calls onAlert, and tells warn when it throws or rejects', async () => {
    const got: SpendAlert[] = [];
    const warnings: string[] = [];
    const warn = (code: string) => warnings.push(code);
    createAlertSender({ onAlert: (alert) => void got.push(alert), webhook: undefined }, warn)(ALERT);
    expect(got).toEqual([ALERT]);
    createAlertSender(
      {
        onAlert: () => {
          throw new Error('boom');
        },
        webhook: undefined,
      },
      warn,
    )(ALERT);
    createAlertSender(
      {
        onAlert: async () => {
          throw new Error('boom');
        },
        webhook: undefined,
      },
      warn,
    )(ALERT);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual(['TB_ALERT_CALLBACK_FAILED', 'TB_ALERT_CALLBACK_FAILED']);
  });
});
