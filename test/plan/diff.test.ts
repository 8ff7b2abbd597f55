// diffPlans: each feature of either plan, added, removed or kept, and the total, window by window, with the change in USD.
import { diffPlans } from '../../lib/plan/diff';
import { PLAN_WINDOWS } from '../../lib/plan/periods';
import type { FeaturePlan, Plan, WindowBound, WindowBounds } from '../../lib/plan/worst-case';

/** A bound of `usd` (null: unbounded) in every window but the day, which is `dayUsd`. */
function bounds(usd: number | null, dayUsd = usd): WindowBounds {
  const bound = (amount: number | null): WindowBound =>
    amount === null
      ? { usd: null, tokens: null, binding: null }
      : { usd: amount, tokens: amount * 50_000, binding: 'globalTpm.limit' };
  return Object.fromEntries(PLAN_WINDOWS.map(({ name }) => [name, bound(name === 'day' ? dayUsd : usd)])) as WindowBounds;
}

const feature = (name: string, windows: WindowBounds): FeaturePlan => ({
  name,
  model: 'gpt-4o',
  outputUsdPerMillion: 20,
  windows,
});
const plan = (features: FeaturePlan[], total: WindowBounds): Plan => ({ features, total, unbounded: [] });

test("features of either plan in the order written, the old file's first, each with its status", () => {
  const before = plan([feature('chat', bounds(1)), feature('search', bounds(2))], bounds(3));
  const after = plan([feature('quick', bounds(4)), feature('chat', bounds(1))], bounds(5));
  const diff = diffPlans(before, after);
  expect(diff.features.map(({ name, status }) => [name, status])).toEqual([
    ['chat', 'kept'],
    ['search', 'removed'],
    ['quick', 'added'],
  ]);
});

test('a kept feature: each window before and after, and what it moved by to the micro-dollar', () => {
  const was = bounds(0.1, 10);
  const is = bounds(0.3, 7.5);
  const diff = diffPlans(plan([feature('chat', was)], was), plan([feature('chat', is)], is));
  const [chat] = diff.features;
  // 0.3 − 0.1 is 0.19999999999999998 in binary: no bill shows that.
  expect(chat!.windows.minute).toEqual({ before: was.minute, after: is.minute, changeUsd: 0.2 });
  expect(chat!.windows.day).toEqual({ before: was.day, after: is.day, changeUsd: -2.5 });
  expect(diff.total).toEqual(chat!.windows);
});

test('an added or removed feature has no other side and no change', () => {
  const diff = diffPlans(plan([feature('old', bounds(2))], bounds(2)), plan([feature('new', bounds(3))], bounds(3)));
  const [old, added] = diff.features;
  expect(old!.windows.hour).toEqual({ before: bounds(2).hour, after: null, changeUsd: null });
  expect(added!.windows.hour).toEqual({ before: null, after: bounds(3).hour, changeUsd: null });
  expect(diff.total.hour.changeUsd).toBe(1);
});

test('an unbounded side has no change in USD, a free one has', () => {
  const diff = diffPlans(plan([], bounds(null, 0)), plan([], bounds(4, 4)));
  expect(diff.total.minute).toEqual({ before: bounds(null).minute, after: bounds(4).minute, changeUsd: null });
  expect(diff.total.day.changeUsd).toBe(4);
  expect(diffPlans(plan([], bounds(4)), plan([], bounds(null))).total.hour.changeUsd).toBeNull();
});
