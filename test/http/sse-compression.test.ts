// Streams behind compression(): every event reaches the client while the upstream is still streaming, on Express 4 and 5, both APIs.
import compression from 'compression';
import { once } from 'node:events';
import http from 'node:http';
import zlib from 'node:zlib';
import { EXPRESS, listenTestApp, type ListeningTestApp } from '../helpers/app';

const DELTAS = 12;
/** Events may trail the upstream by this many chunks on a loaded machine; a buffered stream trails by all of them. */
const ALLOWED_LAG = 3;

let t: ListeningTestApp;

afterEach(() => t?.stop());

/**
 * Posts `body` asking for gzip and reads the events as they arrive, noting for each text
 * delta how many tokens the upstream had sent when it arrived.
 */
async function readEvents(port: number, body: object): Promise<{ encoding: string | undefined; sentAtArrival: number[] }> {
  const req = http.request({
    port,
    host: '127.0.0.1',
    method: 'POST',
    path: '/chat',
    headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
  });
  req.end(JSON.stringify(body));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const encoding = res.headers['content-encoding'];
  const text = encoding === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
  const sentAtArrival: number[] = [];
  let buffered = '';
  for await (const piece of text) {
    buffered += String(piece);
    const events = buffered.split('\n\n');
    buffered = events.pop()!;
    for (const event of events) {
      if (/"delta":"( )?ok"|"content":"( )?ok"/.test(event)) sentAtArrival.push(t.upstream.calls[0]!.sentTokens);
    }
  }
  return { encoding, sentAtArrival };
}

describe.each(Object.entries(EXPRESS))('%s', (_name, express) => {
  test.each([
    ['chat completions', { messages: [{ role: 'user', content: 'Hi' }], stream: true }],
    ['the Responses API', { input: 'Hi', stream: true }],
  ])('%s behind compression(): each event arrives before the stream ends', async (_api, body) => {
    t = await listenTestApp({
      express,
      upstream: { completionTokens: () => DELTAS, chunkIntervalMs: 40 },
      chain: (b, client) => [compression(), b.featureBudget('chat'), b.llmHandler({ client })],
    });
    const { sentAtArrival } = await readEvents(t.port, body);
    expect(sentAtArrival).toHaveLength(DELTAS);
    // The i-th delta arrived while the upstream had sent at most i + ALLOWED_LAG: nothing waited for the end.
    sentAtArrival.slice(0, DELTAS - ALLOWED_LAG).forEach((sent, i) => expect(sent).toBeLessThanOrEqual(i + 1 + ALLOWED_LAG));
  });
});
