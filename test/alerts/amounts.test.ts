// Money amounts at their edges and the money scopes of a meter: keys, windows, weights and how long an hour's spend is kept.
import { formatUsd, nanosToUsd, usdToNanos } from '../../lib/alerts/money';
import { NO_CAP, spendScope, spendScopeKey, weightsOf } from '../../lib/alerts/spend-scopes';

describe('money at its edges', () => {
  it('reads an amount below one nano-USD as one, never as zero', () => {
    expect(usdToNanos(1e-12, 'x')).toBe(1);
    expect(usdToNanos(1.5e-9, 'x')).toBe(2);
  });

  it('refuses an amount beyond exact integer arithmetic, naming the largest', () => {
    expect(usdToNanos(9_007_199, 'x')).toBe(9_007_199_000_000_000);
    expect(() => usdToNanos(9_007_200, 'costMeter.dailyCapUsd')).toThrow(
      'costMeter.dailyCapUsd is more than 9007199.25474099 USD. [TB_INVALID_OPTION]',
    );
  });

  it('writes nano-USD back as USD, negative amounts with their sign', () => {
    expect(nanosToUsd(1_500_000_000)).toBe(1.5);
    expect(nanosToUsd(1)).toBe(1e-9);
    expect(formatUsd(-1_500_000_001)).toBe('-1.500000001');
    expect(formatUsd(999_999_999)).toBe('0.999999999');
  });
});

describe('spend scopes', () => {
  const spec = {
    meter: 'spend',
    feature: undefined,
    timeZone: 'UTC',
    limit: NO_CAP,
    weights: weightsOf({ input: 2_500_000_000, cachedInput: 1_250_000_000, output: 10_000_000_000 }),
    onUnavailable: 'fallback' as const,
  };

  it('keys each meter, feature, window and zone apart', () => {
    expect(spendScopeKey('spend', undefined, 'hour', 'UTC')).toBe('g:{spend@}:hour');
    expect(spendScopeKey('spend', 'chat', 'day', 'Europe/Paris')).toBe('g:{spend@chat}:day@Europe/Paris');
  });

  it('weighs each token in nano-USD from a price per 1M tokens', () => {
    expect(spec.weights).toEqual({ input: 2500, cachedInput: 1250, output: 10_000 });
  });

  it("keeps an hour's settled spend 25 hours for the spike baseline, a day's not at all", () => {
    const hour = spendScope({ ...spec, window: 'hour' });
    expect(hour).toMatchObject({
      kind: 'spend',
      name: 'spend',
      key: 'g:{spend@}:hour',
      limit: NO_CAP,
      onUnavailable: 'fallback',
      tracksSpend: true,
      keepSpentMs: 25 * 3_600_000,
    });
    expect('keepSpentMs' in spendScope({ ...spec, window: 'day' })).toBe(false);
  });

  it('counts in calendar windows of its zone', () => {
    const at = Date.UTC(2026, 10, 28, 23, 30);
    expect(spendScope({ ...spec, window: 'hour' }).window.periodAt(at).startMs).toBe(Date.UTC(2026, 10, 28, 23));
    // Paris is UTC+1 in November: its day began at 23:00 UTC.
    const paris = spendScope({ ...spec, window: 'day', timeZone: 'Europe/Paris' });
    expect(paris.window.periodAt(at).startMs).toBe(Date.UTC(2026, 10, 28, 23));
  });
});
