// sendError on a recorded exchange: the refusal passed on, given to onReject (its failures a 500 and one warning), or sent as JSON.
import type { BudgetContext } from '../../lib/context';
import type { Exchange } from '../../lib/exchange';
import { sendError, type AnswerOptions } from '../../lib/http/errors';
import type { Observers } from '../../lib/observers';
import { BudgetRefusal, internalError } from '../../lib/refusal';

/** An exchange that records what it was asked to do; `onReject` is called with the refusal alone. */
function recordedExchange(fields: { headersSent?: boolean; feature?: string } = {}) {
  const sent: { status: number; headers: Record<string, string>; body: unknown }[] = [];
  const passed: unknown[] = [];
  const cut = { count: 0 };
  const exchange = {
    res: { destroy: () => void cut.count++ },
    headersSent: fields.headersSent ?? false,
    context: fields.feature === undefined ? undefined : ({ feature: fields.feature } as BudgetContext),
    sendJson: (status: number, headers: Record<string, string>, body: unknown) => void sent.push({ status, headers, body }),
    passOn: (error: unknown) => void passed.push(error),
    callOnReject: (onReject: unknown, refusal: BudgetRefusal) => (onReject as (refusal: BudgetRefusal) => unknown)(refusal),
  } as unknown as Exchange;
  return { exchange, sent, passed, cut };
}

function recordedOptions(options: AnswerOptions = {}) {
  const warnings: string[] = [];
  const refused: [string, string | undefined][] = [];
  const observers = { refused: (refusal: BudgetRefusal, feature: string | undefined) => refused.push([refusal.type, feature]) };
  return {
    options: {
      ...options,
      warn: (code: string, message: string) => warnings.push(`${code}: ${message}`),
      observers: observers as unknown as Observers,
    },
    warnings,
    refused,
  };
}

const refusal = () => new BudgetRefusal('user_quota_exceeded', 'Over your quota.', { retryAfterSeconds: 30 });

test('by default the refusal is sent as JSON with its status and headers, and told to the observers with the feature', () => {
  const { exchange, sent, passed } = recordedExchange({ feature: 'chat' });
  const { options, warnings, refused } = recordedOptions();
  const answer = refusal();
  expect(sendError(answer, exchange, options)).toBeUndefined();
  expect(sent).toEqual([{ status: 429, headers: { 'Retry-After': '30' }, body: answer.body }]);
  expect(passed).toEqual([]);
  expect(warnings).toEqual([]);
  expect(refused).toEqual([['user_quota_exceeded', 'chat']]);
});

test('without a budget context the observers get no feature; without observers or warn nothing fails', () => {
  const { exchange, sent } = recordedExchange();
  const { options, refused } = recordedOptions();
  sendError(refusal(), exchange, options);
  expect(refused).toEqual([['user_quota_exceeded', undefined]]);
  sendError(internalError('TB_NO_FEATURE_BUDGET', 'mount featureBudget'), exchange, {});
  expect(sent.map((answer) => answer.status)).toEqual([429, 500]);
});

test("a refusal's warning is told to warn, once per refusal answered", () => {
  const { exchange, sent } = recordedExchange();
  const { options, warnings } = recordedOptions();
  sendError(internalError('TB_NO_FEATURE_BUDGET', 'mount featureBudget first'), exchange, options);
  expect(warnings).toEqual(['TB_NO_FEATURE_BUDGET: mount featureBudget first']);
  expect(sent).toEqual([
    { status: 500, headers: {}, body: expect.objectContaining({ error: expect.objectContaining({ type: 'internal_error' }) }) },
  ]);
});

test('once the head is written, the response is cut and the refusal passed on instead', () => {
  const { exchange, sent, passed, cut } = recordedExchange({ headersSent: true });
  const answer = refusal();
  sendError(answer, exchange, recordedOptions().options);
  expect(sent).toEqual([]);
  expect(passed).toEqual([answer]);
  expect(cut.count).toBe(1);
});

test("errors: 'next' passes the refusal on, even with an onReject", () => {
  const { exchange, sent, passed } = recordedExchange();
  const onReject = jest.fn();
  const { options, refused } = recordedOptions({ errors: 'next', onReject });
  const answer = refusal();
  sendError(answer, exchange, options);
  expect(passed).toEqual([answer]);
  expect(sent).toEqual([]);
  expect(onReject).not.toHaveBeenCalled();
  expect(refused).toHaveLength(1);
});

describe('onReject', () => {
  test('answers instead of the JSON; a sync one returns nothing, an async one a promise of nothing', async () => {
    const { exchange, sent } = recordedExchange();
    const seen: BudgetRefusal[] = [];
    const answer = refusal();
    expect(
      sendError(answer, exchange, recordedOptions({ onReject: (r: BudgetRefusal) => void seen.push(r) }).options),
    ).toBeUndefined();
    expect(sendError(answer, exchange, recordedOptions({ onReject: () => null }).options)).toBeUndefined();
    const pending = sendError(answer, exchange, recordedOptions({ onReject: async () => 'ignored' }).options);
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).resolves.toBeUndefined();
    expect(seen).toEqual([answer]);
    expect(sent).toEqual([]);
  });

  test.each([
    [
      'throws an Error',
      () => {
        throw new Error('bug');
      },
      'bug',
    ],
    [
      'throws a string',
      () => {
        throw 'oops';
      },
      'oops',
    ],
    ['rejects', () => Promise.reject(new Error('async bug')), 'async bug'],
  ])('that %s: a 500 internal_error JSON, and TB_ON_REJECT_FAILED told', async (_how, onReject, detail) => {
    const { exchange, sent } = recordedExchange();
    const { options, warnings } = recordedOptions({ onReject });
    await sendError(refusal(), exchange, options);
    expect(sent).toEqual([
      {
        status: 500,
        headers: {},
        body: {
          error: expect.objectContaining({
            type: 'internal_error',
            message: 'This request cannot be served because of a server configuration error.',
          }),
        },
      },
    ]);
    expect(warnings).toEqual([
      `TB_ON_REJECT_FAILED: onReject failed while answering user_quota_exceeded (${detail}); the request was answered 500 internal_error.`,
    ]);
  });

  test('that fails once the head is written: the response is cut and the 500 passed on', async () => {
    const { exchange, sent, passed, cut } = recordedExchange({ headersSent: true });
    await sendError(refusal(), exchange, recordedOptions({ onReject: () => Promise.reject(new Error('late')) }).options);
    expect(sent).toEqual([]);
    expect(passed).toEqual([expect.objectContaining({ type: 'internal_error' })]);
    expect(cut.count).toBe(1);
  });
});
