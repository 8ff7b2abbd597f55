// The model call's errors read directly: which ones the provider did not bill, which are the SDK's, and the refusal each becomes.
import OpenAI from 'openai';
import { BudgetRefusal } from '../../lib/refusal';
import { callFailureRefusal, isModelClientError, providerRefused, upstreamRefusal } from '../../lib/upstream';
import type * as Upstream from '../../lib/upstream';
import { loadAnew } from '../helpers/load-anew';

/** `err` wrapped `depth` times as the `cause` of a plain error. */
function nested(err: object, depth: number): object {
  let outer = err;
  for (let i = 0; i < depth; i++) outer = new Error(`wrapper ${i}`, { cause: outer });
  return outer;
}

describe('providerRefused', () => {
  test('an HTTP error status: refused (not billed); below 400, or not a number, is no refusal', () => {
    expect(providerRefused({ status: 400 })).toBe(true);
    expect(providerRefused({ status: 503 })).toBe(true);
    expect(providerRefused({ status: 399 })).toBe(false);
    expect(providerRefused({ status: '500' })).toBe(false);
  });

  test('a connection never made, or a port fetch would not use, up to 8 causes deep', () => {
    expect(providerRefused(nested({ code: 'EHOSTUNREACH' }, 7))).toBe(true);
    expect(providerRefused(nested(new Error('bad port'), 3))).toBe(true);
    expect(providerRefused(nested({ code: 'ECONNREFUSED' }, 8))).toBe(false);
    expect(providerRefused(nested({ code: 'ECONNRESET', message: 'socket hang up' }, 1))).toBe(false);
  });

  test('each code of a connection never made, and each message of a fetch never sent', () => {
    // Loaded in this test: the codes and messages are sets built as the module loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { providerRefused: refused } = loadAnew(() => require('../../lib/upstream') as typeof Upstream);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
      expect([code, refused({ code })]).toEqual([code, true]);
    }
    expect(refused(new Error('bad port'))).toBe(true);
    expect(refused({ code: '', message: '' })).toBe(false);
  });

  test('nothing, or a cause that is no object: not refused', () => {
    expect(providerRefused(null)).toBe(false);
    expect(providerRefused(undefined)).toBe(false);
    expect(providerRefused('ECONNREFUSED')).toBe(false);
    expect(providerRefused({ cause: 'ECONNREFUSED' })).toBe(false);
  });
});

describe('isModelClientError', () => {
  test("openai's APIError and its subclasses, by class name", () => {
    expect(isModelClientError(new OpenAI.APIConnectionTimeoutError())).toBe(true);
    expect(isModelClientError(OpenAI.APIError.generate(500, undefined, 'down', new Headers()))).toBe(true);
  });

  test('anything else, including objects without a prototype or a constructor, is not', () => {
    for (const err of [new Error('x'), null, undefined, 'APIError', Object.create(null), Object.create(Object.create(null))]) {
      expect(isModelClientError(err)).toBe(false);
    }
  });
});

describe('upstreamRefusal', () => {
  test('a BudgetRefusal passes through as it is', () => {
    const refusal = new BudgetRefusal('feature_disabled', 'Off.');
    expect(upstreamRefusal(refusal)).toBe(refusal);
  });

  test('a 429 reads Retry-After from a plain header record too; a value that is no string says nothing', () => {
    expect(upstreamRefusal({ status: 429, headers: { 'retry-after': '3' } })?.headers).toEqual({ 'Retry-After': '3' });
    expect(upstreamRefusal({ status: 429, headers: { 'retry-after': 3 } })?.headers).toEqual({});
    expect(upstreamRefusal({ status: 429, headers: 'retry-after: 3' })?.headers).toEqual({});
    expect(upstreamRefusal({ status: 429, headers: null })?.headers).toEqual({});
    // Infinity is a number but no count of seconds, nor a date.
    expect(upstreamRefusal({ status: 429, headers: { 'retry-after': 'Infinity' } })?.headers).toEqual({});
    // Strict: no `retryAfterSeconds` key, not one left undefined.
    expect(upstreamRefusal({ status: 429, headers: {} })?.details).toStrictEqual({});
    expect(upstreamRefusal({ status: 429, headers: { 'retry-after-ms': '-5', 'retry-after': '2' } })?.headers).toEqual({
      'Retry-After': '2',
    });
  });

  test('an HTTP date counts the whole seconds until then', () => {
    jest.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
    try {
      const headers = { 'retry-after': 'Thu, 01 Jan 2026 00:02:00 GMT' };
      expect(upstreamRefusal({ status: 429, headers })?.headers).toEqual({ 'Retry-After': '120' });
    } finally {
      jest.useRealTimers();
    }
  });

  test('an error of no kind it knows: undefined', () => {
    expect(upstreamRefusal(null)).toBeUndefined();
    expect(upstreamRefusal(new Error('x'))).toBeUndefined();
  });
});

describe('callFailureRefusal', () => {
  test('a call run stopped on its time-out is a time-out, whatever it threw', () => {
    const refusal = callFailureRefusal({ status: 429 }, 'timeout');
    expect([refusal.type, refusal.message]).toEqual(['upstream_timeout', 'The model provider did not answer in time.']);
  });

  test('otherwise the error decides, and one it does not know is an answer that could not be read', () => {
    expect(callFailureRefusal({ status: 500 }, 'client-gone').message).toBe('The model provider failed to answer (status 500).');
    const unread = callFailureRefusal(new Error('x'), undefined);
    expect([unread.type, unread.message]).toEqual([
      'upstream_error',
      'The model provider sent an answer that could not be read.',
    ]);
  });
});
