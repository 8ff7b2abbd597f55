// `token-budget usage user ID` / `usage quota NAME ID`: what a principal has used this period (and has left, given its limits).
import { quotaScopeKey } from '../store/keys';
import { periodAt } from '../store/periods';
import type { QuotaPeriod } from '../types';
import type { ScopeRequest } from '../store/types';
import { COMMON_HELP, positiveOption, type ParsedLine } from './args';
import type { Command, Session } from './command';
import { UsageError } from './errors';
import { cliName, cliTimeZone, noMore } from './names';
import { fromStore } from './store';

const USAGE =
  'token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z]';
const PERIODS: QuotaPeriod[] = ['hour', 'day', 'week', 'month'];

/** The quota's name and the principal's id from the line. */
function principal([, kind, ...rest]: string[]): { quota: string; id: string } {
  if (kind === 'user') {
    const [id, ...more] = rest;
    if (id === undefined || id === '') throw new UsageError(`usage user needs the user's id; usage: ${USAGE}.`);
    noMore(more, USAGE);
    return { quota: 'user', id };
  }
  if (kind === 'quota') {
    const [name, id, ...more] = rest;
    const quota = cliName(name, 'The quota name');
    if (id === undefined || id === '') throw new UsageError(`usage quota ${quota} needs the principal's id; usage: ${USAGE}.`);
    noMore(more, USAGE);
    return { quota, id };
  }
  throw new UsageError(
    kind === undefined
      ? `usage needs user or quota; usage: ${USAGE}.`
      : `Unknown usage kind ${JSON.stringify(kind)}; usage: ${USAGE}.`,
  );
}

/** `--limits free=10000,pro=100000` as tier → tokens. */
function readLimits(value: string): Map<string, number> {
  const limits = new Map<string, number>();
  for (const entry of value.split(',')) {
    const [tier, tokens, extra] = entry.split('=');
    if (!tier || extra !== undefined)
      throw new UsageError(`--limits must read tier=tokens,tier=tokens; got ${JSON.stringify(value)}.`);
    limits.set(cliName(tier, 'A tier in --limits'), positiveOption(tokens ?? '', `limits ${tier}`)!);
  }
  return limits;
}

/** The limit of the principal's tier, when the line gives the app's limits. */
function readLimit({ values }: ParsedLine): { limit: number; tier?: string } | undefined {
  const { tier, limit, limits } = values;
  if (limit !== undefined && limits !== undefined) throw new UsageError('Give --limit or --limits, not both.');
  if (limit !== undefined) {
    if (tier !== undefined) throw new UsageError('--tier picks a limit of --limits; with --limit there is only one.');
    return { limit: positiveOption(limit, 'limit')! };
  }
  if (limits === undefined) {
    if (tier !== undefined)
      throw new UsageError("--tier needs --limits (the app's limits per tier), e.g. --limits free=10000,pro=100000.");
    return undefined;
  }
  const byTier = readLimits(limits as string);
  // As the app does: no tier means the tier with the smallest limit.
  const chosen = (tier as string | undefined) ?? [...byTier].sort((a, b) => a[1] - b[1])[0]![0];
  const found = byTier.get(chosen);
  if (found === undefined) throw new UsageError(`--tier ${chosen} is not in --limits (${[...byTier.keys()].join(', ')}).`);
  return { limit: found, tier: chosen };
}

function readScope(line: ParsedLine): {
  scope: ScopeRequest;
  quota: string;
  id: string;
  period: QuotaPeriod;
  timeZone: string;
  tier?: string;
  known: boolean;
} {
  const { quota, id } = principal(line.positionals);
  const period = (line.values.period ?? 'day') as QuotaPeriod;
  if (!PERIODS.includes(period))
    throw new UsageError(`--period must be one of ${PERIODS.join(', ')}; got ${JSON.stringify(period)}.`);
  const timeZone = cliTimeZone(line.values['time-zone']);
  const limit = readLimit(line);
  const scope: ScopeRequest = {
    kind: quota === 'user' ? 'user' : 'quota',
    name: quota,
    // The key the app's quota of this period and zone counts in.
    key: quotaScopeKey(quota, id, timeZone === 'UTC' ? period : `${period}@${timeZone}`),
    limit: limit?.limit ?? Number.MAX_SAFE_INTEGER,
    onUnavailable: 'fail-closed',
    window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, period, timeZone) },
  };
  return {
    scope,
    quota,
    id,
    period,
    timeZone,
    ...(limit?.tier === undefined ? {} : { tier: limit.tier }),
    known: limit !== undefined,
  };
}

export const usageCommand: Command = {
  help: `Usage: token-budget usage user ID [options]
       token-budget usage quota NAME ID [options]

What a user (budget.userQuota) or another principal of a named quota (budget.quota)
has used in the current period. The limit lives in the app's code: give it to see
what is left.

  --limits T=N,...   the quota's limits per tier, e.g. free=10000,pro=100000
  --tier T           the principal's tier (default: the tier with the smallest limit)
  --limit N          the quota's limit, when it has no tiers
  --period P         hour, day, week or month, as the quota's period (default: day)
  --time-zone Z      the quota's IANA time zone (default: UTC)

${COMMON_HELP}`,
  options: {
    tier: { type: 'string' },
    limit: { type: 'string' },
    limits: { type: 'string' },
    period: { type: 'string' },
    'time-zone': { type: 'string' },
  },

  check(line) {
    readScope(line);
  },

  async run(session: Session) {
    const { scope, quota, id, period, timeZone, tier, known } = readScope(session);
    const state = await fromStore(session.store.usage(scope));
    const resetAt = new Date(state.resetAtMs).toISOString();
    const periodId = scope.window.kind === 'fixed' ? scope.window.periodAt(state.resetAtMs - 1).id : '';
    const json = {
      quota,
      id,
      period: periodId,
      used: state.used,
      ...(known ? { limit: state.limit, remaining: state.remaining } : {}),
      ...(tier ? { tier } : {}),
      resetAt,
    };
    const tokens = (n: number) => `${n.toLocaleString('en-US')} tokens`;
    const lines = [
      `${quota === 'user' ? 'user' : `quota ${quota}:`} ${id}, ${period} ${periodId} (${timeZone})`,
      `  used        ${tokens(state.used)}`,
      known
        ? `  limit       ${tokens(state.limit)}${tier ? ` (tier ${tier})` : ''}\n  remaining   ${tokens(state.remaining)}`
        : '  limit       not known here: pass --limit N or --limits tier=N,… as the app configures it',
      `  resets at   ${resetAt}`,
    ];
    return { text: lines.join('\n'), json };
  },
};
