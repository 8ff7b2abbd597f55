// The shared option checks on their own: what each accepts, its default, and the code and sentence of each refusal.
import {
  checkApi,
  checkClientGone,
  checkErrorOptions,
  checkFunction,
  checkMissingUsage,
  checkOnExceed,
  checkPolicy,
  checkStreamPolicy,
  positiveInteger,
} from '../../lib/options/check';
import type * as Check from '../../lib/options/check';
import { configError } from '../helpers/config-error';
import { loadAnew } from '../helpers/load-anew';

/** The code and full message `make` throws. */
function refusal(make: () => unknown): string {
  const err = configError(make);
  return `${err.code}: ${err.message}`;
}

describe('positiveInteger', () => {
  test.each([1, 5, Number.MAX_SAFE_INTEGER])('takes %p', (value) => {
    expect(positiveInteger(value, 'limit')).toBe(value);
  });

  test.each([
    [0, '0'],
    [-3, '-3'],
    [1.5, '1.5'],
    [Number.MAX_SAFE_INTEGER + 1, '9007199254740992'],
    ['5', '"5"'],
  ])('refuses %p', (value, shown) => {
    expect(refusal(() => positiveInteger(value, 'quota.limit'))).toBe(
      `TB_INVALID_LIMIT: quota.limit must be a positive integer; got ${shown}. [TB_INVALID_LIMIT]`,
    );
  });
});

/**
 * lib/options/check loaded in the calling test: the name pattern and the policies are built as it loads. Its
 * errors are then of that load's class, so they are matched by message (which ends with the code).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadCheck = () => loadAnew(() => require('../../lib/options/check') as typeof Check);

describe('checkName', () => {
  test.each(['a', 'chat', 'A-b_c.9', 'x'.repeat(64)])('takes %p', (name) => {
    expect(loadCheck().checkName(name, 'A feature name')).toBe(name);
  });

  test.each([
    ['', '""'],
    ['x'.repeat(65), JSON.stringify('x'.repeat(65))],
    ['a b', '"a b"'],
    ['a:b', '"a:b"'],
    ['é', '"é"'],
    ['chat\n', '"chat\\n"'],
    [7, '7'],
  ])('refuses %j', (name, shown) => {
    expect(() => loadCheck().checkName(name, 'A feature name')).toThrow(
      `A feature name must be 1–64 characters of letters, digits, '_', '.' or '-'; got ${shown}. [TB_INVALID_OPTION]`,
    );
  });
});

describe('checkPolicy', () => {
  test('the fallback when left out; each policy as given', () => {
    expect(checkPolicy(undefined, 'onStoreUnavailable', 'fail-open')).toBe('fail-open');
    const fresh = loadCheck();
    for (const policy of ['fail-closed', 'fail-open', 'fallback'] as const)
      expect(fresh.checkPolicy(policy, 'onStoreUnavailable', 'fail-open')).toBe(policy);
  });

  test('refuses any other value', () => {
    expect(() => loadCheck().checkPolicy('open', 'onStoreUnavailable', 'fail-open')).toThrow(
      'onStoreUnavailable must be one of fail-closed, fail-open, fallback; got "open". [TB_INVALID_OPTION]',
    );
  });
});

describe('checkOnExceed', () => {
  test.each([undefined, 'reject', 'truncate', 'summarize', () => 'custom'])('takes %p', (value) => {
    expect(checkOnExceed(value, 'onExceed')).toBe(value);
  });

  test('refuses any other value', () => {
    expect(refusal(() => checkOnExceed('drop', 'features.chat.onExceed'))).toBe(
      "TB_INVALID_OPTION: features.chat.onExceed must be 'reject', 'truncate', 'summarize' or a function; got \"drop\". [TB_INVALID_OPTION]",
    );
  });
});

describe('checkClientGone', () => {
  test.each([undefined, 'finish', 'abort'])('takes %p', (value) => {
    expect(checkClientGone(value, 'onClientGone')).toBe(value);
  });

  test('refuses any other value', () => {
    expect(refusal(() => checkClientGone('stop', 'onClientGone'))).toBe(
      "TB_INVALID_OPTION: onClientGone must be 'finish' or 'abort'; got \"stop\". [TB_INVALID_OPTION]",
    );
  });
});

describe('checkMissingUsage', () => {
  test("'charge' by default; each policy as given", () => {
    expect(checkMissingUsage(undefined)).toBe('charge');
    expect(checkMissingUsage('charge')).toBe('charge');
    expect(checkMissingUsage('count-reply')).toBe('count-reply');
  });

  test('refuses any other value', () => {
    expect(refusal(() => checkMissingUsage('ignore'))).toBe(
      "TB_INVALID_OPTION: onMissingUsage must be 'charge' or 'count-reply'; got \"ignore\". [TB_INVALID_OPTION]",
    );
  });
});

describe('checkStreamPolicy', () => {
  test("'allow' by default; each policy as given", () => {
    expect(checkStreamPolicy(undefined, 'stream')).toBe('allow');
    expect(checkStreamPolicy('allow', 'stream')).toBe('allow');
    expect(checkStreamPolicy('forbid', 'stream')).toBe('forbid');
  });

  test('refuses any other value', () => {
    expect(refusal(() => checkStreamPolicy(true, 'features.chat.stream'))).toBe(
      "TB_INVALID_OPTION: features.chat.stream must be 'allow' or 'forbid'; got true. [TB_INVALID_OPTION]",
    );
  });
});

describe('checkApi', () => {
  test.each([undefined, 'chat', 'responses'])('takes %p', (value) => {
    expect(checkApi(value, 'api')).toBe(value);
  });

  test('refuses any other value', () => {
    expect(refusal(() => checkApi('completions', 'llmHandler.api'))).toBe(
      "TB_INVALID_OPTION: llmHandler.api must be 'chat' or 'responses'; got \"completions\". [TB_INVALID_OPTION]",
    );
  });
});

describe('checkFunction', () => {
  test('takes a function or nothing', () => {
    const fn = () => 1;
    expect(checkFunction(fn, 'user')).toBe(fn);
    expect(checkFunction(undefined, 'user')).toBeUndefined();
  });

  test('refuses anything else', () => {
    expect(refusal(() => checkFunction('req.user', 'userQuota.user'))).toBe(
      'TB_INVALID_OPTION: userQuota.user must be a function. [TB_INVALID_OPTION]',
    );
  });
});

describe('checkErrorOptions', () => {
  const onReject = () => {};
  const inherited = () => {};

  test('its own options win over the inherited ones, each on its own', () => {
    expect(checkErrorOptions({ errors: 'next', onReject }, 'quota', { errors: 'respond', onReject: inherited })).toEqual({
      errors: 'next',
      onReject,
    });
    expect(checkErrorOptions({}, 'quota', { errors: 'next', onReject: inherited })).toEqual({
      errors: 'next',
      onReject: inherited,
    });
    expect(checkErrorOptions({ errors: 'respond' }, 'quota')).toEqual({ errors: 'respond', onReject: undefined });
    expect(checkErrorOptions({}, 'quota')).toEqual({ errors: undefined, onReject: undefined });
  });

  test('refuses an unknown errors value, its own or inherited, and an onReject that is no function', () => {
    expect(refusal(() => checkErrorOptions({ errors: 'throw' as 'next' }, 'quota'))).toBe(
      "TB_INVALID_OPTION: quota.errors must be 'respond' or 'next'; got \"throw\". [TB_INVALID_OPTION]",
    );
    expect(refusal(() => checkErrorOptions({}, 'quota', { errors: 'throw' as 'next' }))).toBe(
      "TB_INVALID_OPTION: quota.errors must be 'respond' or 'next'; got \"throw\". [TB_INVALID_OPTION]",
    );
    expect(refusal(() => checkErrorOptions({ onReject: 'log' as unknown as () => void }, 'quota'))).toBe(
      'TB_INVALID_OPTION: quota.onReject must be a function. [TB_INVALID_OPTION]',
    );
  });
});
