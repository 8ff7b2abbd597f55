// The webhook's option bounds and delivery edges: which statuses are retried, the backoff's doubling, the time-out's words.
import { deliver, readWebhook } from '../../lib/alerts/webhook';
import { startReceiver } from './receiver';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
let hook: Receiver | undefined;
afterEach(async () => hook?.close());

const config = (url: string, extra: object = {}) => readWebhook({ url, backoffMs: 10, ...extra }, 'webhook')!;

describe('readWebhook bounds', () => {
  it('reads no webhook as none, and each option as given', () => {
    expect(readWebhook(undefined, 'webhook')).toBeUndefined();
    expect(
      readWebhook(
        { url: 'http://x/h', timeoutMs: 100, retries: 10, backoffMs: 7, headers: { 'x-key': 'k' } },
        'costMeter.webhook',
      ),
    ).toEqual({ url: new URL('http://x/h'), timeoutMs: 100, retries: 10, backoffMs: 7, headers: { 'x-key': 'k' } });
    expect(readWebhook({ url: 'https://x', retries: 0 }, 'webhook')!.retries).toBe(0);
  });

  it.each([
    [5, 'webhook must be a URL or { url, timeoutMs, retries, backoffMs, headers }. [TB_INVALID_OPTION]'],
    [null, 'webhook must be a URL or { url, timeoutMs, retries, backoffMs, headers }. [TB_INVALID_OPTION]'],
    [{ url: 'http://x', retries: 11 }, 'webhook.retries must be an integer from 0 to 10; got 11. [TB_INVALID_OPTION]'],
    [{ url: 'http://x', retries: 1.5 }, 'webhook.retries must be an integer from 0 to 10; got 1.5. [TB_INVALID_OPTION]'],
    [{ url: 'http://x', headers: 'k' }, 'webhook.headers must be an object of header names to strings. [TB_INVALID_OPTION]'],
    [{ url: 'http://x', backoffMs: 0 }, 'webhook.backoffMs must be a positive integer'],
    [{ url: 'http://x', headers: { 'a b': 'k' } }, 'webhook.headers: a header name'],
    [{ url: 'mailto:a@b.c' }, 'webhook.url must be an http(s) URL; got "mailto:a@b.c". [TB_INVALID_OPTION]'],
  ])('refuses %j', (option, message) => {
    expect(() => readWebhook(option as never, 'webhook')).toThrow(message);
  });
});

describe('deliver edges', () => {
  it('retries a 408; gives up at once on a 300 or a 499', async () => {
    const statuses = [408, 200, 300, 499];
    hook = await startReceiver((n) => statuses[n - 1]!);
    expect(await deliver(config(hook.url), {})).toEqual({ ok: true, attempts: 2 });
    expect(await deliver(config(hook.url), {})).toEqual({ ok: false, attempts: 1, reason: 'HTTP 300' });
    expect(await deliver(config(hook.url), {})).toEqual({ ok: false, attempts: 1, reason: 'HTTP 499' });
  });

  it('retries a 500 and accepts any 2xx', async () => {
    const statuses = [500, 299];
    hook = await startReceiver((n) => statuses[n - 1]!);
    expect(await deliver(config(hook.url, { retries: 1 }), {})).toEqual({ ok: true, attempts: 2 });
  });

  it('waits backoffMs, then twice that, between attempts', async () => {
    const at: number[] = [];
    hook = await startReceiver(() => {
      at.push(performance.now());
      return 503;
    });
    expect(await deliver(config(hook.url, { retries: 2, backoffMs: 60 }), {})).toMatchObject({ ok: false, attempts: 3 });
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(55);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(115);
  });

  it('names the time-out of an attempt that got no answer', async () => {
    hook = await startReceiver(() => 'hang');
    expect(await deliver(config(hook.url, { retries: 0, timeoutMs: 100 }), {})).toEqual({
      ok: false,
      attempts: 1,
      reason: 'no answer within 100 ms',
    });
  });
});
