// How a change of budget file moves the worst case: each feature's and the total's bounds, before and after.
import { PLAN_WINDOWS, type PlanWindowName } from './periods';
import { toMicroUsd, type Plan, type WindowBound, type WindowBounds } from './worst-case';

/** One window before and after; `null` where the feature does not exist. */
export interface WindowMove {
  before: WindowBound | null;
  after: WindowBound | null;
  /** after − before in USD; `null` when either side is unbounded or absent. */
  changeUsd: number | null;
}

export type WindowMoves = Record<PlanWindowName, WindowMove>;

export interface PlanDiff {
  features: { name: string; status: 'added' | 'removed' | 'kept'; windows: WindowMoves }[];
  total: WindowMoves;
}

function moves(before: WindowBounds | undefined, after: WindowBounds | undefined): WindowMoves {
  const result = {} as WindowMoves;
  for (const { name } of PLAN_WINDOWS) {
    const was = before?.[name] ?? null;
    const is = after?.[name] ?? null;
    const changeUsd = was?.usd != null && is?.usd != null ? toMicroUsd(is.usd - was.usd) : null;
    result[name] = { before: was, after: is, changeUsd };
  }
  return result;
}

/** The worst cases of two plans side by side, features of either in the order they were written. */
export function diffPlans(before: Plan, after: Plan): PlanDiff {
  const names = [...new Set([...before.features, ...after.features].map((feature) => feature.name))];
  const find = (plan: Plan, name: string) => plan.features.find((feature) => feature.name === name)?.windows;
  return {
    features: names.map((name) => {
      const was = find(before, name);
      const is = find(after, name);
      return { name, status: was === undefined ? 'added' : is === undefined ? 'removed' : 'kept', windows: moves(was, is) };
    }),
    total: moves(before.total, after.total),
  };
}
