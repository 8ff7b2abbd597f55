// BudgetRefusal read directly: its http-errors fields, its JSON body (a spending cap's figures kept back), and each quota's refusal.
import { BudgetRefusal, internalError } from '../../lib/refusal';
import type * as Refusal from '../../lib/refusal';
import type { ScopeKind, ScopeState } from '../../lib/store/types';
import type { RefusalType } from '../../lib/types';
import { loadAnew } from '../helpers/load-anew';

/** lib/refusal loaded in the calling test: its status and quota tables are built as it loads. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadRefusal = () => loadAnew(() => require('../../lib/refusal') as typeof Refusal);

const RESET = Date.parse('2026-01-02T00:00:00Z');
const state = (kind: ScopeKind, name?: string): ScopeState => ({
  kind,
  ...(name !== undefined && { name }),
  key: 'k',
  limit: 1000,
  used: 990,
  remaining: 10,
  resetAtMs: RESET,
});

test('a refusal is an exposed http-errors error, with Retry-After when known', () => {
  const refusal = new BudgetRefusal('budget_unavailable', 'Try later.', { retryAfterSeconds: 5 });
  expect(refusal).toBeInstanceOf(Error);
  expect(refusal).toMatchObject({ name: 'BudgetRefusal', message: 'Try later.', type: 'budget_unavailable', expose: true });
  expect([refusal.status, refusal.statusCode]).toEqual([503, 503]);
  expect(refusal.headers).toEqual({ 'Retry-After': '5' });
  // Strict: a body with a `scope` key left undefined is not the same body to a handler that reads its keys.
  expect(refusal.body).toStrictEqual({ error: { type: 'budget_unavailable', message: 'Try later.' } });
  expect(new BudgetRefusal('invalid_request', 'Bad.').headers).toEqual({});
});

test('each type has its HTTP status', () => {
  const { BudgetRefusal: Fresh } = loadRefusal();
  const statuses: Record<RefusalType, number> = {
    invalid_request: 400,
    user_required: 401,
    principal_required: 403,
    input_too_large: 413,
    feature_quota_exceeded: 429,
    user_quota_exceeded: 429,
    quota_exceeded: 429,
    global_rate_limited: 429,
    internal_error: 500,
    upstream_error: 502,
    budget_unavailable: 503,
    feature_disabled: 503,
    spend_cap_reached: 503,
    upstream_rate_limited: 503,
    upstream_timeout: 504,
  };
  for (const [type, status] of Object.entries(statuses))
    expect([type, new Fresh(type as RefusalType, 'why').status]).toEqual([type, status]);
});

test("the body names the scope and its figures, the scope's kind when it has no name, and no figures of a spending cap", () => {
  const at = '2026-01-02T00:00:00.000Z';
  const body = (scope: ScopeState) => new BudgetRefusal('quota_exceeded', 'No.', { scope }).body.error;
  expect(body(state('quota', 'team'))).toEqual({
    type: 'quota_exceeded',
    message: 'No.',
    scope: 'team',
    limit: 1000,
    remaining: 10,
    reset_at: at,
  });
  expect(body(state('feature'))).toMatchObject({ scope: 'feature', limit: 1000, remaining: 10 });
  expect(body(state('spend', 'spend'))).toEqual({ type: 'quota_exceeded', message: 'No.', scope: 'spend', reset_at: at });
  const named = new BudgetRefusal('principal_required', 'Who?', { scopeName: 'team' }).body.error;
  expect(named).toEqual({ type: 'principal_required', message: 'Who?', scope: 'team' });
});

test('quotaRefusal: each kind its type and words, Retry-After the whole seconds to the reset (at least 1)', () => {
  const { quotaRefusal } = loadRefusal();
  const now = RESET - 2_500;
  expect(quotaRefusal(state('feature'), 40, now)).toMatchObject({
    type: 'feature_quota_exceeded',
    status: 429,
    message: "This request needs at least 41 tokens (40 input + 1 output), and this feature's daily token budget has 10 left.",
    headers: { 'Retry-After': '3' },
  });
  expect(quotaRefusal(state('user', 'user'), 40, now, 16)).toMatchObject({
    type: 'user_quota_exceeded',
    message: 'This request needs at least 56 tokens (40 input + 16 output), and your token quota for this period has 10 left.',
  });
  expect(quotaRefusal(state('quota', 'team'), 40, now)).toMatchObject({
    type: 'quota_exceeded',
    message: 'This request needs at least 41 tokens (40 input + 1 output), and the team token quota for this period has 10 left.',
  });
  expect(quotaRefusal(state('global'), 40, now)).toMatchObject({
    type: 'global_rate_limited',
    message: 'The service is at its tokens-per-minute limit; retry shortly.',
  });
  expect(quotaRefusal(state('spend'), 40, now)).toMatchObject({
    type: 'spend_cap_reached',
    status: 503,
    message: 'The spending cap for this period is reached; retry after it resets.',
  });
  expect(quotaRefusal(state('feature'), 40, RESET + 60_000).headers).toEqual({ 'Retry-After': '1' });
});

test('internalError tells the client nothing of the cause, and keeps it for the warning', () => {
  const refusal = internalError('TB_NO_BODY_PARSER', 'No body parser ran.');
  expect([refusal.status, refusal.type, refusal.message]).toEqual([
    500,
    'internal_error',
    'This request cannot be served because of a server configuration error.',
  ]);
  expect(refusal.details.warning).toEqual({ code: 'TB_NO_BODY_PARSER', message: 'No body parser ran.' });
});
