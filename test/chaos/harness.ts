// The chaos suite's shared parts: seeded randomness, staged upstream behaviours, the expected charge of a call, worker processes.
import type { ChildProcess } from 'node:child_process';
import type { UpstreamBehaviour, UpstreamCall, UpstreamRequest } from '../../lib/testing';
import { STREAM_IN_FLIGHT_MARGIN } from '../../lib/context';
import { DEFAULT_SUMMARY_PROMPT } from '../../lib/degrade/options';
import { spawnApp } from '../helpers/child-app';
import { until } from '../helpers/until';
import { ASSIST, type ChaosEnv } from './scopes';

export const CHAOS_WORKER = require.resolve('../fixtures/chaos-worker.ts');

/** mulberry32: a small seeded generator, so every run sends the same traffic. */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}
export type Random = ReturnType<typeof seededRandom>;

/** What the app must answer for each staged behaviour (when the client stays and the budgets admit the call). */
interface StagedBehaviour {
  weight: number;
  stage(arg: number): UpstreamBehaviour;
  /** The argument drawn for `stage` (e.g. a delay), written into the request's marker. */
  draw?(random: Random): number;
  status: number;
  type?: string;
  /** Sent with `"stream": true`: answered 200 as server-sent events, ending with `[DONE]` or, failed mid-stream, an `error` event. */
  stream?: 'done' | 'error';
  /** The client hangs up after this many text chunks (the drawn argument). */
  hangUpAfterChunks?: boolean;
  /** Sent as a Responses API body (`input`), answered in the Responses format. */
  responses?: boolean;
}

/**
 * The upstream behaviours of the chaos traffic. Delays stay far below the worker's
 * time-out so that a slow reply is never mistaken for a hang.
 */
export const BEHAVIOURS = {
  reply: { weight: 26, stage: () => ({ kind: 'reply' }), status: 200 },
  slow: { weight: 14, stage: (ms) => ({ kind: 'delay', ms }), draw: (r) => r.int(20, 300), status: 200 },
  'no-usage': { weight: 8, stage: () => ({ kind: 'no-usage' }), status: 200 },
  'no-usage-tool': {
    weight: 4,
    stage: (n) => ({ kind: 'no-usage', toolCall: { name: 'lookup_order', arguments: JSON.stringify({ id: n, note: 'ok ok' }) } }),
    draw: (r) => r.int(1, 1e6),
    status: 200,
  },
  'error-500': { weight: 7, stage: () => ({ kind: 'error', status: 500 }), status: 502, type: 'upstream_error' },
  'error-400': { weight: 3, stage: () => ({ kind: 'error', status: 400 }), status: 502, type: 'upstream_error' },
  'error-429': {
    weight: 7,
    stage: () => ({ kind: 'error', status: 429, headers: { 'retry-after': '1' } }),
    status: 503,
    type: 'upstream_rate_limited',
  },
  garbled: { weight: 7, stage: () => ({ kind: 'garbled' }), status: 502, type: 'upstream_error' },
  'reset-before': { weight: 7, stage: () => ({ kind: 'reset', when: 'before-headers' }), status: 502, type: 'upstream_error' },
  'reset-after': { weight: 7, stage: () => ({ kind: 'reset', when: 'after-headers' }), status: 502, type: 'upstream_error' },
  hang: { weight: 5, stage: () => ({ kind: 'hang' }), status: 504, type: 'upstream_timeout' },
  stream: { weight: 12, stage: () => ({ kind: 'reply' }), status: 200, stream: 'done' },
  'stream-tool': {
    weight: 4,
    stage: (n) => ({ kind: 'reply', toolCall: { name: 'lookup_order', arguments: JSON.stringify({ id: n, note: 'ok ok' }) } }),
    draw: (r) => r.int(1, 1e6),
    status: 200,
    stream: 'done',
  },
  'stream-no-usage': { weight: 5, stage: () => ({ kind: 'no-usage' }), status: 200, stream: 'done' },
  'stream-cut': {
    weight: 5,
    stage: (n) => ({ kind: 'stream-cut', afterTokens: n }),
    draw: (r) => r.int(1, 20),
    status: 200,
    stream: 'error',
  },
  'stream-error': {
    weight: 5,
    stage: (n) => ({ kind: 'stream-error', afterTokens: n }),
    draw: (r) => r.int(1, 20),
    status: 200,
    stream: 'error',
  },
  'stream-hangup': {
    weight: 12,
    stage: () => ({ kind: 'reply' }),
    draw: (r) => r.int(1, 60),
    status: 200,
    stream: 'done',
    hangUpAfterChunks: true,
  },
  responses: { weight: 5, stage: () => ({ kind: 'reply' }), status: 200, responses: true },
  'responses-stream': { weight: 5, stage: () => ({ kind: 'reply' }), status: 200, stream: 'done', responses: true },
  'responses-stream-hangup': {
    weight: 6,
    stage: () => ({ kind: 'reply' }),
    draw: (r) => r.int(1, 60),
    status: 200,
    stream: 'done',
    hangUpAfterChunks: true,
    responses: true,
  },
  'responses-stream-error': {
    weight: 3,
    stage: (n) => ({ kind: 'stream-error', afterTokens: n }),
    draw: (r) => r.int(1, 20),
    status: 200,
    stream: 'error',
    responses: true,
  },
} satisfies Record<string, StagedBehaviour>;
export type BehaviourName = keyof typeof BEHAVIOURS;

const NAMES = Object.keys(BEHAVIOURS) as BehaviourName[];
const TOTAL_WEIGHT = NAMES.reduce((sum, name) => sum + BEHAVIOURS[name].weight, 0);

/** A behaviour drawn by weight, with its argument. */
export function drawBehaviour(random: Random): { name: BehaviourName; arg: number } {
  let ticket = random.next() * TOTAL_WEIGHT;
  for (const name of NAMES) {
    ticket -= BEHAVIOURS[name].weight;
    if (ticket < 0) {
      const staged: StagedBehaviour = BEHAVIOURS[name];
      return { name, arg: staged.draw?.(random) ?? 0 };
    }
  }
  return { name: 'reply', arg: 0 };
}

/** What a chaos request carries in its last message, so the upstream and the ledger know whose call it was and what to stage. */
export interface Marker {
  id: number;
  user: string;
  behaviour: BehaviourName;
  arg: number;
}

const MARKER = /\[chaos id=(\d+) user=([^ \]]+) b=([a-z0-9-]+):(\d+)\]/;

export const markerText = (m: Marker) => `[chaos id=${m.id} user=${m.user} b=${m.behaviour}:${m.arg}]`;

/** The marker of a request or an upstream call, read from the last message (or input item). */
export function readMarker(request: UpstreamRequest): Marker | undefined {
  const messages = (request.body.messages ?? request.body.input) as Array<{ content?: unknown }>;
  const match = MARKER.exec(String(messages.at(-1)?.content ?? ''));
  if (!match) return undefined;
  return { id: Number(match[1]), user: match[2]!, behaviour: match[3] as BehaviourName, arg: Number(match[4]) };
}

/** The upstream's `behave` option for chaos traffic: stages what the marker asks for (plain replies otherwise). */
export function stageFromMarker(request: UpstreamRequest): UpstreamBehaviour {
  const marker = readMarker(request);
  if (!marker || !(marker.behaviour in BEHAVIOURS)) return { kind: 'reply' };
  const staged: StagedBehaviour = BEHAVIOURS[marker.behaviour];
  return staged.stage(marker.arg);
}

/** The behaviour a request's marker staged. */
export function stagedBehaviour(marker: Marker): StagedBehaviour {
  return BEHAVIOURS[marker.behaviour];
}

/** Whether the upstream call is a summary call of /assist: the summarizer's model and instruction (its marker is in the transcript). */
export function isSummaryCall(call: UpstreamCall): boolean {
  const messages = call.request.body.messages as Array<{ content?: unknown }> | undefined;
  return call.request.body.model === ASSIST.summarizer.model && messages?.[0]?.content === DEFAULT_SUMMARY_PROMPT;
}

/** Whether the upstream call was a stream. */
export const isStreamed = (call: UpstreamCall): boolean => call.request.body.stream === true;

/**
 * What the budgets must have charged for one upstream call, as `[least, most]`, by the
 * settlement rules: R1 a 200 with usage (streamed: its usage chunk) → its total; R2/R9 a
 * 200 without usage, or a stream cut or failed mid-stream → the reservation (the default
 * `onMissingUsage: 'charge'`); R3 an HTTP error status → nothing; R4 sent but no usable
 * answer (garbled body, reset, our time-out, or the app gave up on the exchange) → the
 * reservation: input + the output cap sent upstream. All of these are exact. R10 a stream
 * whose client left (`clientLeft`) → input + what the route streamed +
 * `STREAM_IN_FLIGHT_MARGIN` (at most the cap): from the upstream's bill (input + what it
 * sent, when no more than the margin was in flight) to input + what it sent + the margin;
 * when the upstream's stream had ended by itself, the route may have settled it first (by
 * the rules above) and seen its client leave only after.
 */
export function expectedCharge(call: UpstreamCall, clientLeft: boolean): [least: number, most: number] {
  if (isStreamed(call) && clientLeft) {
    const bill = call.usage?.total_tokens ?? call.promptTokens;
    const abandoned = call.promptTokens + Math.min(call.cap ?? 0, call.sentTokens + STREAM_IN_FLIGHT_MARGIN);
    const ended = call.outcome === 'client-gone' ? abandoned : chargeOf(call);
    return [bill, Math.max(abandoned, ended)];
  }
  const exactly = chargeOf(call);
  return [exactly, exactly];
}

/** The exact charge of a call whose client stayed (or, not streamed, left with `onClientGone: 'finish'`). */
function chargeOf(call: UpstreamCall): number {
  const reservation = call.promptTokens + (call.cap ?? 0);
  if (call.outcome === 'client-gone') return reservation;
  switch (call.behaviour.kind) {
    case 'reply':
    case 'delay':
      return call.promptTokens + call.completionTokens;
    case 'error':
      return 0;
    case 'stream-cut':
    case 'stream-error':
      // Shorter than `afterTokens` (a user's shrinking cap): it ended normally, with its usage chunk.
      return call.failedMidStream ? reservation : call.promptTokens + call.completionTokens;
    case 'no-usage':
    case 'garbled':
    case 'reset':
    case 'hang':
      return reservation;
  }
}

export type Worker = { port: number; child: ChildProcess };

export async function startWorkers(count: number, env: ChaosEnv): Promise<Worker[]> {
  return Promise.all(Array.from({ length: count }, () => spawnApp(CHAOS_WORKER, env as Record<string, string>)));
}

/** Kills the workers (SIGKILL is safe: their state lives in Redis) and waits for them to be gone. */
export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(
    workers.map(({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return gone;
    }),
  );
}

export async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await res.json()) as T;
}

/** Waits until no worker has a store call or model call running, twice in a row; after 30 s the checks that follow tell what is off. */
export async function workersQuiet(workers: readonly Worker[]): Promise<void> {
  let quietPolls = 0;
  const quiet = async () => {
    const running = await Promise.all(workers.map((w) => getJson<{ running: number }>(w.port, '/inflight')));
    quietPolls = running.every((r) => r.running === 0) ? quietPolls + 1 : 0;
    return quietPolls >= 2;
  };
  await until(quiet, { everyMs: 25, timeoutMs: 30_000 }).catch(() => undefined);
}

/** Sums `value` by `key`. */
export function sumBy<T>(items: readonly T[], key: (item: T) => string, value: (item: T) => number): Map<string, number> {
  const sums = new Map<string, number>();
  for (const item of items) sums.set(key(item), (sums.get(key(item)) ?? 0) + value(item));
  return sums;
}
