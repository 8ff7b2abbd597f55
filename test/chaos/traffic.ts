// Chaos traffic: seeded mixed requests from several users over app processes, some abandoned by their client at a random moment.
import { BEHAVIOURS, drawBehaviour, markerText, seededRandom, type Marker } from './harness';

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
}

/** One request as the client saw it. */
export interface SentRequest {
  marker: Marker;
  port: number;
  /** Set when the client hung up before reading the whole answer. */
  abandoned: boolean;
  status?: number;
  contentType?: string;
  body?: unknown;
  /** The body was not JSON. */
  rawBody?: string;
}

const FILLER = ['order', 'status', 'please', 'refund', 'delivery', 'when', 'the', 'parcel', 'arrives', 'thanks'];

/** Sends the seeded traffic and resolves once every request has been answered or abandoned. */
export async function sendTraffic(options: TrafficOptions): Promise<SentRequest[]> {
  const random = seededRandom(options.seed);
  const plan = Array.from({ length: options.requests }, (_, id) => {
    const user = random.pick(options.users);
    const { name, arg } = drawBehaviour(random);
    const words = Array.from({ length: random.int(3, 120) }, () => random.pick(FILLER)).join(' ');
    const disconnectAfterMs = random.next() < options.disconnectRate ? random.int(0, options.maxDisconnectMs) : undefined;
    // A body `user` naming someone else: the upstream must never be told it.
    const claimsVictim = random.next() < 0.3;
    const marker: Marker = { id, user: user.id, behaviour: name, arg };
    return { marker, tier: user.tier, port: options.ports[id % options.ports.length]!, words, disconnectAfterMs, claimsVictim };
  });

  const sent: SentRequest[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const item = plan[next++]!;
      const result: SentRequest = { marker: item.marker, port: item.port, abandoned: false };
      sent.push(result);
      const abort = new AbortController();
      const timer = item.disconnectAfterMs === undefined ? undefined : setTimeout(() => abort.abort(), item.disconnectAfterMs);
      try {
        const res = await fetch(`http://127.0.0.1:${item.port}/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-user': item.marker.user, 'x-tier': item.tier },
          body: JSON.stringify({
            messages: [
              { role: 'system', content: 'You answer questions about orders.' },
              { role: 'user', content: `${item.words} ${markerText(item.marker)}` },
            ],
            ...(item.claimsVictim ? { user: 'victim' } : {}),
          }),
          signal: abort.signal,
        });
        result.status = res.status;
        result.contentType = res.headers.get('content-type') ?? undefined;
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
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return sent;
}

/** The status and error type the app must answer for a request the budgets admitted. */
export function documentedAnswer(marker: Marker): { status: number; type?: string } {
  const staged: { status: number; type?: string } = BEHAVIOURS[marker.behaviour];
  return { status: staged.status, type: staged.type };
}
