// Shadow mode's parts read directly: lifted limits, states told against the real ones, what would have refused, the events.
import { BudgetRefusal } from '../../lib/refusal';
import {
  checkMode,
  exceedEvent,
  liftShadowLimits,
  realStates,
  refusalEvent,
  shadowHeaderValue,
  warnShadow,
  wouldRefuse,
} from '../../lib/shadow';
import type { Reservation, ScopeRequest, ScopeState } from '../../lib/store/types';
import type { ShadowEvent } from '../../lib/types';
import { configError } from '../helpers/config-error';

const window = { kind: 'fixed', periodAt: () => ({ id: 'd', startMs: 0, endMs: 1000 }) } as const;
const scope = (key: string, limit: number): ScopeRequest => ({
  kind: 'quota',
  name: key,
  key,
  limit,
  window,
  onUnavailable: 'fail-open',
});
const state = (key: string, limit: number, used: number): ScopeState => ({
  kind: 'quota',
  name: key,
  key,
  limit,
  used,
  remaining: Math.max(0, limit - used),
  resetAtMs: 1000,
});
/** A reservation of `input` prompt tokens that added `amount` to each of `scopes`. */
const reservation = (scopes: ScopeRequest[], input: number, amount: number): Reservation => ({
  parts: scopes.map((s) => ({ scope: s, windowKey: `${s.key}:d`, amount })),
  leaseId: 'lease',
  input,
  outputCap: amount - input,
});

test('checkMode: undefined inherits; enforce and shadow are kept; anything else is TB_INVALID_OPTION', () => {
  expect(checkMode(undefined, 'mode', 'shadow')).toBe('shadow');
  expect(checkMode('enforce', 'mode', 'shadow')).toBe('enforce');
  expect(checkMode('shadow', 'mode', 'enforce')).toBe('shadow');
  const err = configError(() => checkMode('off', 'features.chat.mode', 'enforce'));
  expect(err.code).toBe('TB_INVALID_OPTION');
  expect(err.message).toBe(`features.chat.mode must be 'enforce' or 'shadow'; got "off". [TB_INVALID_OPTION]`);
});

test('liftShadowLimits lifts the shadow scopes only; realStates tells them against their real limits', () => {
  const scopes = [scope('team', 100), scope('user', 50)];
  const shadow = new Set(['team']);
  const lifted = liftShadowLimits(scopes, shadow);
  expect(lifted[0]).toEqual({ ...scopes[0], limit: 2 ** 52 });
  expect(lifted[1]).toBe(scopes[1]);
  expect(liftShadowLimits(scopes, new Set())).toBe(scopes);

  const states = [state('team', 2 ** 52, 130), state('user', 50, 20)];
  const real = realStates(scopes, states, shadow);
  expect(real[0]).toEqual({ ...states[0], limit: 100, remaining: 0 });
  expect(real[1]).toBe(states[1]);
  expect(realStates(scopes, [state('team', 2 ** 52, 30)], shadow)[0]).toMatchObject({ limit: 100, remaining: 70 });
  expect(realStates(scopes, states, new Set())).toBe(states);
});

test('wouldRefuse: a shadow scope that could not afford one output token, as it was before this reservation', () => {
  const scopes = [scope('team', 100), scope('user', 100), scope('org', 100)];
  const shadow = new Set(['team', 'user']);
  // 30 input tokens; team had 69 used before its part of 40 (affords 1 output token), user 70 before its 45 (affords none).
  const held = reservation(scopes, 30, 40);
  held.parts[1]!.amount = 45;
  const states = [state('team', 2 ** 52, 109), state('user', 2 ** 52, 115), state('org', 100, 200)];
  expect(wouldRefuse(scopes, states, held, shadow)).toEqual([{ ...state('user', 100, 70), resetAtMs: 1000 }]);
  // A scope the store did not count (no state, or no part) decides nothing.
  expect(wouldRefuse(scopes, [states[0]!], held, shadow)).toEqual([]);
  expect(wouldRefuse(scopes, states, { ...held, parts: [] }, shadow)).toEqual([]);
  // A part larger than the use (a window that rolled over) counts from zero.
  expect(
    wouldRefuse([scope('user', 20)], [state('user', 2 ** 52, 10)], reservation([scope('user', 20)], 25, 40), shadow),
  ).toEqual([state('user', 20, 0)]);
});

test('refusalEvent names the scope only when the refusal has one', () => {
  const quota = new BudgetRefusal('quota_exceeded', 'No more.', { scopeName: 'team' });
  expect(refusalEvent('chat', quota)).toEqual({
    action: 'refuse',
    code: 'quota_exceeded',
    feature: 'chat',
    scope: 'team',
    status: 429,
    message: 'No more.',
  });
  expect(refusalEvent('chat', new BudgetRefusal('feature_disabled', 'Off.'))).not.toHaveProperty('scope');
});

test('exceedEvent: a refusal for reject, the strategy for the others (custom for a function)', () => {
  const feature = { name: 'chat', maxInput: 100 };
  const over = 'The input has 150 tokens; this feature accepts at most 100 input tokens.';
  expect(exceedEvent(feature, 'reject', 150)).toEqual({
    action: 'refuse',
    code: 'input_too_large',
    feature: 'chat',
    status: 413,
    message: over,
  });
  expect(exceedEvent(feature, 'truncate', 150)).toEqual({
    action: 'degrade',
    code: 'truncate',
    feature: 'chat',
    message: `${over} It would have been degraded (truncate).`,
  });
  expect(exceedEvent(feature, ({ messages }) => messages, 150)).toMatchObject({ code: 'custom' });
});

test('shadowHeaderValue: each code once, in first order; no events, no header', () => {
  const event = (code: string): ShadowEvent => ({ action: 'refuse', code, feature: 'chat', message: '' });
  expect(shadowHeaderValue([event('b'), event('a'), event('b')])).toBe('b, a');
  expect(shadowHeaderValue([])).toBeUndefined();
});

test('warnShadow warns TB_SHADOW_<CODE>, saying what would have been done', () => {
  const warnings: [string, string][] = [];
  const onShadow = warnShadow((code, message) => void warnings.push([code, message]));
  onShadow({ action: 'refuse', code: 'user_quota_exceeded', feature: 'chat', status: 429, message: 'No more.' });
  onShadow({ action: 'degrade', code: 'truncate', feature: 'chat', message: 'Too long.' });
  expect(warnings).toEqual([
    [
      'TB_SHADOW_USER_QUOTA_EXCEEDED',
      'Shadow mode: a request of feature "chat" would have been refused 429 user_quota_exceeded: No more. (reported once per code; pass onShadow to see each).',
    ],
    [
      'TB_SHADOW_TRUNCATE',
      'Shadow mode: a request of feature "chat" would have been degraded (truncate): Too long. (reported once per code; pass onShadow to see each).',
    ],
  ]);
});
