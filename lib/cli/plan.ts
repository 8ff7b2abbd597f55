// `token-budget plan FILE` / `plan --diff OLD NEW`: prints the worst case of budget files and fails a release over a spend limit.
import { TokenBudgetConfigError } from '../config-error';
import { diffPlans, type WindowMove } from '../plan/diff';
import { loadBudgetConfig } from '../plan/file';
import { PLAN_WINDOWS, type PlanWindowName } from '../plan/periods';
import { planWorstCase, type Plan, type PrincipalCounts, type WindowBound, type WindowBounds } from '../plan/worst-case';
import type { BudgetFile } from '../types';
import { positiveOption, type ParsedLine } from './args';
import type { LocalCommand, Output } from './command';
import { CliFailure, UsageError, withoutCode } from './errors';
import { cliName, noMore } from './names';

const USAGE = 'token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N]';
/** Exit status of a plan whose worst case is over a spend limit given on the line. */
const OVER_LIMIT_EXIT = 3;

/** The spend limits a release must stay within, from the line. */
const GATES = [
  { option: 'max-daily-usd', window: 'day' },
  { option: 'max-monthly-usd', window: '30 days' },
] as const satisfies { option: string; window: PlanWindowName }[];

function readFile(path: string): BudgetFile {
  try {
    return loadBudgetConfig(path);
  } catch (err) {
    if (err instanceof TokenBudgetConfigError) throw new CliFailure(withoutCode(err.message));
    throw err;
  }
}

/** `free=1000,pro=50` as tier → count; a bare count is every principal at the quota's largest tier (the worst case). */
function readTierCounts(value: string, option: string, quota: string, files: BudgetFile[]): PrincipalCounts[string] {
  if (/^\d+$/.test(value)) return positiveOption(value, option)!;
  const tiers = new Set(files.flatMap((file) => tierNames(file, quota)));
  const counts: Record<string, number> = {};
  for (const entry of value.split(',')) {
    const [tier, count, extra] = entry.split('=');
    if (!tier || count === undefined || extra !== undefined)
      throw new UsageError(`--${option} must read tier=count,tier=count; got ${JSON.stringify(value)}.`);
    if (!tiers.has(tier))
      throw new UsageError(`--${option}: quota ${quota} has no tier ${JSON.stringify(tier)} (it has ${[...tiers].join(', ')}).`);
    counts[tier] = positiveOption(count, `${option} ${tier}`)!;
  }
  return counts;
}

/** The tiers of `quota` in `file` (`default` for one number); none when the file lacks the quota. */
function tierNames(file: BudgetFile, quota: string): string[] {
  const limits = file.quotas[quota]?.limits;
  if (limits === undefined) return [];
  return typeof limits === 'number' ? ['default'] : Object.keys(limits);
}

/** `--users` (the user quota) and `--principals team:gold=20,team:free=5` (other quotas), checked against the files' quotas. */
function readPrincipals({ values }: ParsedLine, files: BudgetFile[]): PrincipalCounts {
  const quotas = new Set(files.flatMap((file) => Object.keys(file.quotas)));
  const known = (quota: string, option: string) => {
    if (!quotas.has(quota))
      throw new UsageError(`--${option} counts principals of quota ${quota}, which the budget file does not define.`);
    return quota;
  };
  const principals: PrincipalCounts = {};
  if (typeof values.users === 'string') principals[known('user', 'users')] = readTierCounts(values.users, 'users', 'user', files);
  if (typeof values.principals === 'string') {
    const byQuota = new Map<string, string[]>();
    for (const entry of values.principals.split(',')) {
      const [quota, tiers, extra] = entry.split(':');
      if (quota === undefined || tiers === undefined || extra !== undefined)
        throw new UsageError(`--principals must read quota:tier=count,…; got ${JSON.stringify(values.principals)}.`);
      byQuota.set(quota, [...(byQuota.get(quota) ?? []), tiers]);
    }
    for (const [quota, tiers] of byQuota) {
      const name = known(cliName(quota, 'A quota in --principals'), 'principals');
      principals[name] = readTierCounts(tiers.join(','), 'principals', name, files);
    }
  }
  return principals;
}

function readUsd(value: string | boolean | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const usd = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(usd) || usd < 0)
    throw new UsageError(`--${option} must be an amount of USD such as 500 or 12.50; got ${JSON.stringify(value)}.`);
  return usd;
}

const money = (usd: number) =>
  `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: usd > 0 && usd < 0.01 ? 6 : 2 })}`;
const usdText = (bound: WindowBound | null) => (bound === null ? '—' : bound.usd === null ? 'unbounded' : money(bound.usd));
const tokensText = (bound: WindowBound | null) => (bound?.tokens == null ? '' : `${bound.tokens.toLocaleString('en-US')} tokens`);
const label = (window: PlanWindowName) => `per ${window}`;

/** Sections of rows, the rows' cells in columns two spaces apart across every section. */
function sections(parts: { heading: string; rows: string[][] }[]): string[] {
  const rows = parts.flatMap((part) => part.rows);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return parts.flatMap(({ heading, rows }) => [
    heading,
    ...rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd()),
  ]);
}

function windowRows(bounds: WindowBounds): string[][] {
  return PLAN_WINDOWS.map(({ name }) => [
    label(name),
    usdText(bounds[name]),
    tokensText(bounds[name]),
    bounds[name].binding ?? '',
  ]);
}

function moveRows(moves: Record<PlanWindowName, WindowMove>): string[][] {
  return PLAN_WINDOWS.map(({ name }) => {
    const { before, after, changeUsd } = moves[name];
    const change = changeUsd === null || changeUsd === 0 ? '' : `(${changeUsd > 0 ? '+' : '−'}${money(Math.abs(changeUsd))})`;
    const was = before?.binding ?? '';
    const is = after?.binding ?? '';
    return [label(name), `${usdText(before)} → ${usdText(after)}`, change, was === is ? is : `${was || '—'} → ${is || '—'}`];
  });
}

function principalsText(principals: PrincipalCounts): string {
  const quotas = Object.entries(principals);
  if (quotas.length === 0) return 'Principals: none counted (give --users or --principals to let quotas bound the total).';
  const counts = quotas.map(([quota, tiers]) =>
    typeof tiers === 'number'
      ? `${quota} ${tiers.toLocaleString('en-US')} at the largest tier`
      : `${quota} ${Object.entries(tiers)
          .map(([tier, n]) => `${tier}=${n.toLocaleString('en-US')}`)
          .join(' ')}`,
  );
  return `Principals: ${counts.join('; ')}.`;
}

const ASSUMPTIONS =
  "Every token is priced at its model's output price, and every limit of the file is taken as mounted on every feature's route.";

/** The spend limits of the line against `plan`: each one's finding, and the first one broken. */
function checkGates(line: ParsedLine, plan: Plan) {
  const findings = GATES.flatMap(({ option, window }) => {
    const limitUsd = readUsd(line.values[option], option);
    if (limitUsd === undefined) return [];
    const worstUsd = plan.total[window].usd;
    return [{ option, window, limitUsd, worstUsd, exceeded: worstUsd === null || worstUsd > limitUsd }];
  });
  const broken = findings.find((finding) => finding.exceeded);
  const failure =
    broken &&
    `the worst case per ${broken.window} is ${broken.worstUsd === null ? 'unbounded' : money(broken.worstUsd)}, more than --${broken.option} ${money(broken.limitUsd)}.`;
  const text = findings.map(
    (f) =>
      `--${f.option} ${money(f.limitUsd)}: the worst ${f.window} is ${f.worstUsd === null ? 'unbounded' : money(f.worstUsd)}, ${f.exceeded ? 'OVER the limit' : 'within it'}.`,
  );
  return { findings, text, failure };
}

function gated(output: Output, failure: string | undefined): Output {
  return failure === undefined ? output : { ...output, exitCode: OVER_LIMIT_EXIT, failure };
}

function planOne(line: ParsedLine, path: string): Output {
  const file = readFile(path);
  const principals = readPrincipals(line, [file]);
  const plan = planWorstCase(file, principals);
  const gates = checkGates(line, plan);
  const text = [`Worst case of ${path}.`, ASSUMPTIONS, principalsText(principals), ''];
  text.push(
    ...sections([
      ...plan.features.map((feature) => ({
        heading: `${feature.name} (${feature.model}, ${money(feature.outputUsdPerMillion)} per 1M output tokens)`,
        rows: windowRows(feature.windows),
      })),
      { heading: 'total', rows: windowRows(plan.total) },
    ]),
  );
  if (plan.unbounded.length > 0) text.push('', ...plan.unbounded);
  if (gates.text.length > 0) text.push('', ...gates.text);
  return gated({ text: text.join('\n'), json: { file: path, principals, ...plan, limits: gates.findings } }, gates.failure);
}

function planDiff(line: ParsedLine, beforePath: string, afterPath: string): Output {
  const files = [readFile(beforePath), readFile(afterPath)] as const;
  const principals = readPrincipals(line, [...files]);
  const [before, after] = files.map((file) => planWorstCase(file, principals)) as [Plan, Plan];
  const diff = diffPlans(before, after);
  const gates = checkGates(line, after);
  const text = [`Worst case, ${beforePath} → ${afterPath}.`, ASSUMPTIONS, principalsText(principals), ''];
  text.push(
    ...sections([
      ...diff.features.map((feature) => ({
        heading: feature.status === 'kept' ? feature.name : `${feature.name} (${feature.status})`,
        rows: moveRows(feature.windows),
      })),
      { heading: 'total', rows: moveRows(diff.total) },
    ]),
  );
  if (after.unbounded.length > 0) text.push('', ...after.unbounded);
  if (gates.text.length > 0) text.push('', ...gates.text);
  return gated(
    { text: text.join('\n'), json: { before: beforePath, after: afterPath, principals, ...diff, limits: gates.findings } },
    gates.failure,
  );
}

export const planCommand: LocalCommand = {
  help: `Usage: token-budget plan FILE [options]
       token-budget plan --diff OLD NEW [options]

The most a budget file (loadBudgetConfig) lets be spent per minute, hour, day and
30 days, per feature and in total, and the limit that binds each figure: the
features' dailyTokens, globalTpm.limit, the quotas times their principals, the
costMeter caps. Every token is priced at its model's output price (the split is
unknown, so it errs high). Needs no Redis.

  --users T=N,...         expected users per tier of quota user, e.g. free=1000,pro=50
                          (a bare N: N users at the largest tier)
  --principals Q:T=N,...  the same for other quotas, e.g. team:gold=20,team:free=5
  --max-daily-usd N       exit 3 when the total worst case per day is over N USD
  --max-monthly-usd N     exit 3 when the total worst case per 30 days is over N USD
  --diff                  compare two files: how the change moves the worst case
                          (the limits apply to NEW)
  --json                  print JSON instead of text
  -h, --help              this help

Exit status: 0 within the limits, 1 a budget file cannot be read or is invalid,
2 bad arguments, 3 the worst case is over --max-daily-usd or --max-monthly-usd
(an unbounded one always is).`,
  options: {
    users: { type: 'string' },
    principals: { type: 'string' },
    'max-daily-usd': { type: 'string' },
    'max-monthly-usd': { type: 'string' },
    diff: { type: 'boolean' },
  },

  runLocal(line) {
    const [, ...paths] = line.positionals;
    if (line.values.diff) {
      const [before, after, ...more] = paths;
      if (before === undefined || after === undefined) throw new UsageError(`plan --diff needs two files; usage: ${USAGE}.`);
      noMore(more, USAGE);
      return planDiff(line, before, after);
    }
    const [path, ...more] = paths;
    if (path === undefined) throw new UsageError(`plan needs a budget file; usage: ${USAGE}.`);
    noMore(more, USAGE);
    return planOne(line, path);
  },
};
