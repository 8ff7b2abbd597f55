// The server-sent events writers on a recorded response: the stream's head, one event per write (flushed), the error event.
import type { ServerResponse } from 'node:http';
import { endWithErrorEvent, writeEvent, writeEventStreamHead } from '../../lib/http/sse';
import { BudgetRefusal } from '../../lib/refusal';

/** A response that records its status, headers, writes, flushes and end, in the order they happened. */
function recordedResponse(fields: { flush?: boolean } = {}) {
  const steps: string[] = [];
  const headers: Record<string, string> = {};
  const res = {
    statusCode: 0,
    setHeader: (name: string, value: string) => {
      headers[name] = value;
      steps.push(`setHeader ${name}`);
    },
    flushHeaders: () => void steps.push('flushHeaders'),
    write: (chunk: string) => void steps.push(`write ${chunk}`),
    end: () => void steps.push('end'),
    ...(fields.flush ? { flush: () => void steps.push('flush') } : {}),
  };
  return { res: res as unknown as ServerResponse, status: () => res.statusCode, headers, steps };
}

test('the head is a 200 event stream that no proxy buffers or transforms, sent at once', () => {
  const { res, status, headers, steps } = recordedResponse();
  writeEventStreamHead(res);
  expect(status()).toBe(200);
  expect(headers).toEqual({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
  });
  // The headers are set before the head is flushed, or they would not go with it.
  expect(steps.at(-1)).toBe('flushHeaders');
});

test('an event is one data line and a blank line, named when it has a name; each is flushed after its write', () => {
  const { res, steps } = recordedResponse({ flush: true });
  writeEvent(res, '{"a":1}');
  writeEvent(res, '[DONE]', 'done');
  expect(steps).toEqual(['write data: {"a":1}\n\n', 'flush', 'write event: done\ndata: [DONE]\n\n', 'flush']);
});

test('without flush (no compression in front), an event is written all the same', () => {
  const { res, steps } = recordedResponse();
  writeEvent(res, '{}');
  expect(steps).toEqual(['write data: {}\n\n']);
});

test("the error event carries the refusal's type and message as the openai SDK reads them, then the stream ends", () => {
  const { res, steps } = recordedResponse({ flush: true });
  endWithErrorEvent(res, new BudgetRefusal('user_quota_exceeded', 'Over your quota.', { retryAfterSeconds: 30 }));
  expect(steps).toEqual([
    'write event: error\ndata: {"error":{"type":"user_quota_exceeded","message":"Over your quota."}}\n\n',
    'flush',
    'end',
  ]);
});
