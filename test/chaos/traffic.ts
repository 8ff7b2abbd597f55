// Chaos traffic: seeded mixed requests, streamed or not, from several users over app processes, some abandoned by their client at a random moment or chunk; some are long conversations to /assist.
import { countChatTokens } from '../../lib';
import type { ChatMessage } from '../../lib/messages';
import { drawBehaviour, markerText, seededRandom, stagedBehaviour, type Marker, type Random } from './harness';
import { ASSIST } from './scopes';

export interface ChaosUser {
  id: string;
  tier: string;
}

export interface TrafficOptions {
  ports: readonly number[];
  users: readonly ChaosUser[];
  requests: number;
  /** Requests in flight at once. */
  concurrency: number;
  seed: number;
  /** Share of requests whose client hangs up after a random delay. */
  disconnectRate: number;
  /** The latest moment a client hangs up, ms after sending. */
  maxDisconnectMs: number;
  /** Share of requests sent to /assist (summarize, downgrade); most of them conversations over its `maxInput`. */
  assistRate: number;
}

/** The route a request went to: `/chat`, or `/assist`, which summarizes and downgrades. */
export type Route = 'chat' | 'assist';

/** One request as the client saw it. */
export interface SentRequest {
  marker: Marker;
  port: number;
  route: Route;
  /** Set when the client hung up before reading the whole answer. */
  abandoned: boolean;
  status?: number;
  contentType?: string;
  body?: unknown;
  /** The body was not JSON. */
  rawBody?: string;
  /** Whether it asked for a stream. */
  stream: boolean;
  /**
   * Its prompt tokens, as the budget counts them (what a stream left before it reached the upstream may be charged,
   * with the margin); on /assist, the whole conversation's by the larger of the feature's and the cheaper model's
   * counts: a summarized or truncated prompt is smaller.
   */
  promptTokens: number;
  /** A streamed answer: the last event, `[DONE]` / `response.completed` / `response.incomplete` or `error` (its data's `error.type`). */
  lastEvent?: { data: string; name?: string; errorType?: string };
  /** From sending to the answer's end or the hang-up, as the client saw it: at least as long as the app's exchange. */
  elapsedMs?: number;
}

/** Reads a server-sent event stream, hanging up after `hangUpAfter` text chunks; returns the last event. */
async function readStream(
  res: Response,
  hangUpAfter: number | undefined,
  abort: AbortController,
): Promise<SentRequest['lastEvent']> {
  const decoder = new TextDecoder();
  let buffered = '';
  let chunks = 0;
  let last: SentRequest['lastEvent'];
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(piece, { stream: true });
    const events = buffered.split('\n\n');
    buffered = events.pop()!;
    for (const event of events) {
      const data = /^data: (.*)$/m.exec(event)?.[1] ?? '';
      const errorType = /^event: error$/m.test(event)
        ? (JSON.parse(data) as { error?: { type?: string } }).error?.type
        : undefined;
      const name = /^event: (.+)$/m.exec(event)?.[1];
      last = { data, ...(name === undefined ? {} : { name }), ...(errorType === undefined ? {} : { errorType }) };
      if (/"(content|arguments|delta)":"./.test(data) && ++chunks === hangUpAfter) {
        abort.abort();
        // Left at once: a body read on after its fetch was aborted can wait forever.
        return last;
      }
    }
  }
  return last;
}

const FILLER = ['order', 'status', 'please', 'refund', 'delivery', 'when', 'the', 'parcel', 'arrives', 'thanks'];

const wordsOf = (random: Random, min: number, max: number) =>
  Array.from({ length: random.int(min, max) }, () => random.pick(FILLER)).join(' ');

/**
 * The older turns of a conversation over /assist's `maxInput` (their user messages carry
 * the marker too, so the summary call's transcript names the request), or none.
 */
function earlierTurns(random: Random, marker: Marker, long: boolean): ChatMessage[] {
  if (!long) return [];
  return Array.from({ length: random.int(3, 8) }).flatMap((): ChatMessage[] => [
    { role: 'user', content: `${wordsOf(random, 10, 40)} ${markerText(marker)}` },
    { role: 'assistant', content: wordsOf(random, 10, 40) },
  ]);
}

/** What the budget may reserve for `messages` on `route`, before any degrading (see `SentRequest.promptTokens`). */
function promptTokensOf(messages: ChatMessage[], route: Route): number {
  const counts = (route === 'chat' ? ['gpt-4o'] : [ASSIST.model, ASSIST.downgradeTo]).map((model) =>
    countChatTokens(messages, { model }),
  );
  return Math.max(...counts);
}

/** Sends the seeded traffic and resolves once every request has been answered or abandoned. */
export async function sendTraffic(options: TrafficOptions): Promise<SentRequest[]> {
  const random = seededRandom(options.seed);
  const plan = Array.from({ length: options.requests }, (_, id) => {
    const user = random.pick(options.users);
    const { name, arg } = drawBehaviour(random);
    const staged = stagedBehaviour({ id, user: user.id, behaviour: name, arg });
    const words = wordsOf(random, 3, 120);
    const disconnectAfterMs = random.next() < options.disconnectRate ? random.int(0, options.maxDisconnectMs) : undefined;
    // A body `user` naming someone else: the upstream must never be told it.
    const claimsVictim = random.next() < 0.3;
    const marker: Marker = { id, user: user.id, behaviour: name, arg };
    const stream = staged.stream !== undefined;
    const route: Route = random.next() < options.assistRate ? 'assist' : 'chat';
    // Over /assist's maxInput most of the time; its newest turn always fits.
    const history = route === 'assist' ? earlierTurns(random, marker, random.next() < 0.7) : [];
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You answer questions about orders.' },
      ...history,
      { role: 'user', content: `${words} ${markerText(marker)}` },
    ];
    const hangUpAfter = staged.hangUpAfterChunks ? arg : undefined;
    return {
      marker,
      route,
      tier: user.tier,
      port: options.ports[id % options.ports.length]!,
      words,
      disconnectAfterMs,
      claimsVictim,
      stream,
      messages,
      responses: staged.responses === true,
      hangUpAfter,
    };
  });

  const sent: SentRequest[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const item = plan[next++]!;
      const result: SentRequest = {
        marker: item.marker,
        port: item.port,
        route: item.route,
        abandoned: false,
        stream: item.stream,
        promptTokens: promptTokensOf(item.messages, item.route),
      };
      sent.push(result);
      const started = performance.now();
      const abort = new AbortController();
      const timer = item.disconnectAfterMs === undefined ? undefined : setTimeout(() => abort.abort(), item.disconnectAfterMs);
      try {
        const res = await fetch(`http://127.0.0.1:${item.port}/${item.route}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-user': item.marker.user, 'x-tier': item.tier },
          body: JSON.stringify({
            ...(item.responses ? { input: item.messages } : { messages: item.messages }),
            ...(item.claimsVictim ? { user: 'victim' } : {}),
            ...(item.stream ? { stream: true } : {}),
          }),
          signal: abort.signal,
        });
        result.status = res.status;
        result.contentType = res.headers.get('content-type') ?? undefined;
        if (/^text\/event-stream/.test(result.contentType ?? '')) {
          result.lastEvent = await readStream(res, item.hangUpAfter, abort);
          if (abort.signal.aborted) result.abandoned = true;
          continue;
        }
        const text = await res.text();
        try {
          result.body = JSON.parse(text);
        } catch {
          result.rawBody = text.slice(0, 200);
        }
      } catch {
        result.abandoned = true;
      } finally {
        clearTimeout(timer);
        result.elapsedMs = performance.now() - started;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return sent;
}

/** The status, error type and (streamed) last event the app must answer for a request the budgets admitted. */
export function documentedAnswer(marker: Marker): { status: number; type?: string; stream?: 'done' | 'error' } {
  const { status, type, stream } = stagedBehaviour(marker);
  return { status, type, stream };
}
