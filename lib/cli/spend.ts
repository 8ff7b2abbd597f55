// `token-budget spend [--feature F]`: what this hour and today have cost, settled and still held by calls in flight.
import { formatUsd } from '../alerts/money';
import { NO_CAP, spendScope, type SpendWindow } from '../alerts/spend-scopes';
import { COMMON_HELP, type ParsedLine } from './args';
import type { Command, Session } from './command';
import { cliName, cliTimeZone, noMore } from './names';
import { fromStore } from './store';

const USAGE = 'token-budget spend [--feature F] [--meter NAME] [--time-zone Z]';
const WINDOWS: { window: SpendWindow; label: string }[] = [
  { window: 'hour', label: 'this hour' },
  { window: 'day', label: 'today' },
];

function readMeter({ positionals, values }: ParsedLine) {
  noMore(positionals.slice(1), USAGE);
  const feature = values.feature === undefined ? undefined : cliName(values.feature as string, '--feature');
  return {
    meter: cliName((values.meter as string | undefined) ?? 'spend', '--meter'),
    feature,
    timeZone: cliTimeZone(values['time-zone']),
  };
}

export const spendCommand: Command = {
  help: `Usage: ${USAGE}

What the calls metered by budget.costMeter() cost this hour and today: the settled
spend (what calls really cost), and what calls in flight still hold of the cap.

  --feature F        one feature's spend (a meter with per: 'feature'); default: the global spend
  --meter NAME       the costMeter's name (default: spend)
  --time-zone Z      the meter's IANA time zone (default: UTC)

${COMMON_HELP}`,
  options: {
    feature: { type: 'string' },
    meter: { type: 'string' },
    'time-zone': { type: 'string' },
  },

  check(line) {
    readMeter(line);
  },

  async run(session: Session) {
    const { meter, feature, timeZone } = readMeter(session);
    const nowMs = Date.now();
    const rows = await Promise.all(
      WINDOWS.map(async ({ window, label }) => {
        const scope = spendScope({
          meter,
          feature,
          window,
          timeZone,
          limit: NO_CAP,
          weights: { input: 0, cachedInput: 0, output: 0 },
          onUnavailable: 'fail-closed',
        });
        const [[spent = 0], state] = await Promise.all([
          fromStore(session.store.spentAt!(scope, [nowMs])),
          fromStore(session.store.usage(scope)),
        ]);
        const period = scope.window.periodAt(nowMs);
        return {
          window,
          label,
          period: period.id,
          spentNanos: spent,
          inFlightNanos: Math.max(0, state.used - spent),
          resetAt: new Date(period.endMs).toISOString(),
        };
      }),
    );
    const title = `${feature === undefined ? 'all features' : `feature ${feature}`}, meter ${meter} (${timeZone})`;
    const text = [
      title,
      ...rows.map(
        (row) =>
          `  ${row.label.padEnd(9)}  ${row.period.padEnd(19)}  $${formatUsd(row.spentNanos)} spent, $${formatUsd(row.inFlightNanos)} held by calls in flight`,
      ),
    ].join('\n');
    const json = {
      meter,
      ...(feature === undefined ? {} : { feature }),
      timeZone,
      windows: rows.map(({ window, period, spentNanos, inFlightNanos, resetAt }) => ({
        window,
        period,
        spentUsd: formatUsd(spentNanos),
        inFlightUsd: formatUsd(inFlightNanos),
        resetAt,
      })),
    };
    return { text, json };
  },
};
