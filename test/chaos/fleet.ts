// Shared by the fleet proofs (issue 12): a persisted Redis, the marker-staged upstream, and marked requests from named users.
import { createClient } from 'redis';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamCall } from '../../lib/testing';
import { startRedis } from '../helpers/redis';
import { markerText, readMarker, stageFromMarker, type BehaviourName } from './harness';

/**
 * Redis with every write on disk before it is acknowledged (AOF, fsync always): a killed Redis comes back with all
 * it confirmed; a client of the test's own that reconnects after a kill; the upstream staging what each request's
 * marker asks for, 30 completion tokens a reply.
 */
export async function startFleetRig() {
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  const client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } });
  client.on('error', () => {});
  await client.connect();
  const upstream = await startOfflineUpstream({ behave: stageFromMarker, completionTokens: () => 30 });
  return {
    redis,
    client,
    upstream,
    close: async (): Promise<void> => {
      await client.close().catch(() => {});
      await redis.close();
      await upstream.close();
    },
  };
}

export type FleetRig = Awaited<ReturnType<typeof startFleetRig>>;

/** One request as the client saw it. */
export interface Exchange {
  user: string;
  behaviour: BehaviourName;
  port: number;
  id: number;
  startedAt: number;
  endedAt: number;
  status: number;
  type: string | undefined;
  json: boolean;
}

let nextId = 0;

/** One POST /chat of `user`, its marker naming the user, a fresh id and the upstream behaviour (with its argument); never throws. */
export async function sendAs(port: number, user: string, behaviour: BehaviourName = 'reply', arg = 0): Promise<Exchange> {
  const id = nextId++;
  const startedAt = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`http://127.0.0.1:${port}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': user },
      body: JSON.stringify({
        messages: [{ role: 'user', content: `How is my order? ${markerText({ id, user, behaviour, arg })}` }],
      }),
    });
    text = await res.text();
  } catch (err) {
    // No answer at all (a reset connection): status 0, the cause's code as the type, for the test to judge.
    const code = (err as { cause?: { code?: string } }).cause?.code ?? String(err);
    return { user, behaviour, port, id, startedAt, endedAt: performance.now(), status: 0, type: code, json: false };
  }
  let body: { error?: { type?: string } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const { status } = res;
  const endedAt = performance.now();
  return { user, behaviour, port, id, startedAt, endedAt, status, type: body?.error?.type, json: !!body };
}

/** The upstream calls a user's requests made. */
export const callsOf = (upstream: OfflineUpstream, user: string) =>
  upstream.calls.filter((call) => readMarker(call.request)?.user === user);

/** Tokens the upstream billed for `calls`. */
export const billedTokens = (calls: readonly UpstreamCall[]) =>
  calls.reduce((sum, call) => sum + (call.usage?.total_tokens ?? 0), 0);
