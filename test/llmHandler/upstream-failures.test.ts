// A failed model call, as llmHandler answers it and as the budget counts it: our own words, the provider's Retry-After, released or charged.
import OpenAI from 'openai';
import request from 'supertest';
import { optionApp, promptOf } from '../helpers/options';

const body = promptOf(50);

/** An app whose model calls all throw `error`. */
function failingApp(error: unknown, dailyTokens = 100_000) {
  const client = { chat: { completions: { create: () => Promise.reject(error) } } };
  const features = { chat: { maxInput: 1000, maxOutput: 100, model: 'gpt-4o', dailyTokens } };
  return optionApp({ features }, (b) => [b.featureBudget('chat'), b.llmHandler({ client })]);
}

const statusError = (status: number, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(
    status,
    { message: 'upstream said sk-secret-key-0123456789' },
    'upstream said sk-secret-key-0123456789',
    new Headers(headers),
  );

describe('the provider answered with an error status', () => {
  test.each([
    [429, {}, 503, 'upstream_rate_limited', undefined],
    [429, { 'retry-after': '7' }, 503, 'upstream_rate_limited', '7'],
    [429, { 'retry-after': '0.2' }, 503, 'upstream_rate_limited', '1'],
    [429, { 'retry-after': '0' }, 503, 'upstream_rate_limited', '1'],
    [429, { 'retry-after': 'soon' }, 503, 'upstream_rate_limited', undefined],
    [429, { 'retry-after-ms': '1500', 'retry-after': '60' }, 503, 'upstream_rate_limited', '2'],
    [429, { 'retry-after-ms': '0' }, 503, 'upstream_rate_limited', '1'],
    [429, { 'retry-after-ms': 'x', 'retry-after': '4' }, 503, 'upstream_rate_limited', '4'],
    [500, {}, 502, 'upstream_error', undefined],
    [401, { 'retry-after': '7' }, 502, 'upstream_error', undefined],
  ] as const)('%i %j → %i %s, Retry-After %s', async (status, headers, answered, type, retryAfter) => {
    const { app } = failingApp(statusError(status, headers));
    const res = await request(app).post('/chat').send(body);
    expect([res.status, res.body.error.type]).toEqual([answered, type]);
    expect(res.headers['retry-after']).toBe(retryAfter);
    expect(JSON.stringify(res.body)).not.toContain('sk-secret');
    if (type === 'upstream_error') expect(res.body.error.message).toBe(`The model provider failed to answer (status ${status}).`);
    else expect(res.body.error.message).toBe('The model provider is rate limiting this service; retry shortly.');
  });

  test('an HTTP date in Retry-After counts the seconds until then', async () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const { app } = failingApp(statusError(429, { 'retry-after': inTwoMinutes }));
    const retryAfter = Number((await request(app).post('/chat').send(body)).headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(110);
    expect(retryAfter).toBeLessThanOrEqual(120);
  });

  test('an HTTP date already past is a retry in 1 s', async () => {
    const { app } = failingApp(statusError(429, { 'retry-after': new Date(Date.now() - 60_000).toUTCString() }));
    expect((await request(app).post('/chat').send(body)).headers['retry-after']).toBe('1');
  });
});

describe('what a failed call costs the budget', () => {
  // A day of 150 tokens is one call (50 in, 100 out): a charged failure uses it up, a released one leaves it whole.
  test.each([
    ['an error status (nothing billed): released', statusError(503), 'released'],
    [
      'a refused connection, deep in the cause chain: released',
      Object.assign(new Error('fetch failed'), { cause: { cause: { code: 'ECONNREFUSED' } } }),
      'released',
    ],
    [
      'an unknown host: released',
      new OpenAI.APIConnectionError({ cause: Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }) }),
      'released',
    ],
    [
      'a connection reset after sending: charged',
      new OpenAI.APIConnectionError({ cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }),
      'charged',
    ],
    ['a time-out of the SDK: charged', new OpenAI.APIConnectionTimeoutError(), 'charged'],
    ['a garbled answer: charged', new SyntaxError('Unexpected end of JSON input'), 'charged'],
  ])('%s', async (_what, error, outcome) => {
    const { app } = failingApp(error, 150);
    await request(app).post('/chat').send(body);
    const second = await request(app).post('/chat').send(body);
    expect(second.body.error.type === 'feature_quota_exceeded' ? 'charged' : 'released').toBe(outcome);
  });
});

describe('failures without a status, in our words', () => {
  test.each([
    [
      'a connection that failed',
      new OpenAI.APIConnectionError({}),
      502,
      'upstream_error',
      'The model provider could not be reached.',
    ],
    [
      'the SDK timing out',
      new OpenAI.APIConnectionTimeoutError(),
      504,
      'upstream_timeout',
      'The model provider did not answer in time.',
    ],
    [
      'an answer that cannot be read',
      new SyntaxError('Unexpected token < in JSON'),
      502,
      'upstream_error',
      'The model provider sent an answer that could not be read.',
    ],
  ])('%s', async (_what, error, status, type, message) => {
    const res = await request(failingApp(error).app).post('/chat').send(body);
    expect([res.status, res.body.error]).toEqual([status, { type, message }]);
  });
});
