// Store deadlines measure the store: a process too busy to read a prompt reply is not told Redis is down.
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { longestWaitMs, withinDeadline } from '../../lib/store/deadline';
import { userScopeKey } from '../../lib/store/keys';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import { scope } from './contract';
import { type RedisServer, startRedis } from '../helpers/redis';

/** Holds the event loop, as a burst of synchronous work in the app would. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('withinDeadline', () => {
  it('takes a reply that came back while the loop was blocked past the deadline', async () => {
    let answer!: (value: string) => void;
    const reply = new Promise<string>((resolve) => (answer = resolve));
    const bounded = withinDeadline(100, reply);
    // The reply arrives (as socket data would) during a 300 ms block that spans the deadline.
    setTimeout(() => answer('ok'), 50);
    await new Promise((r) => setTimeout(r, 10));
    blockFor(300);
    await expect(bounded).resolves.toBe('ok');
  });

  it('still gives up on a store that does not answer', async () => {
    const startedAt = Date.now();
    await expect(withinDeadline(100, new Promise(() => {}))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it('waits eight deadlines at the longest', () => {
    expect(longestWaitMs(250)).toBe(2000);
  });

  it('does not charge the store for time the loop was blocked, up to four deadlines', async () => {
    let answer!: (value: string) => void;
    const bounded = withinDeadline(100, new Promise<string>((resolve) => (answer = resolve)));
    blockFor(250); // the timer fires 150 ms late: the store has had 100 ms, not 250
    setTimeout(() => answer('late but fine'), 60);
    await expect(bounded).resolves.toBe('late but fine');
  });
});

describe('redisStore under a busy event loop', () => {
  let server: RedisServer;
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    server = await startRedis();
    client = createClient({ url: server.url });
    client.on('error', () => {});
    await client.connect();
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  it('answers a reservation whose reply waited behind 1.5 deadlines of synchronous work', async () => {
    const store = redisStore(client, { timeoutMs: 200, onError: () => {}, prefix: 'busy:' });
    const user = scope(userScopeKey('busy', 'day'), 1000);
    await store.usage(user); // loads the script
    for (let round = 0; round < 5; round++) {
      const reserving = store.reserve({ scopes: [user], input: 9, maxOutput: 1 });
      blockFor(300);
      await expect(reserving).resolves.toMatchObject({ ok: true });
    }
    expect((await store.usage(user)).used).toBe(50);
  });
});

describe('withinDeadline on a fake clock', () => {
  // A real setImmediate: each step fires the due timers, then lets the checks they deferred run at that instant.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  async function step(ms: number) {
    await jest.advanceTimersByTimeAsync(ms);
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** What `promise` came to so far (its rejection is kept, never left unhandled). */
  function watch(promise: Promise<unknown>) {
    const state: { settled: boolean; error?: unknown } = { settled: false };
    promise.then(
      () => (state.settled = true),
      (err: unknown) => Object.assign(state, { settled: true, error: err }),
    );
    return state;
  }

  /** Steps `ms` a millisecond at a time, and says when (ms after the start) `state` settled. */
  async function settledAfter(state: { settled: boolean }, ms: number) {
    for (let elapsed = 1; elapsed <= ms; elapsed++) {
      await step(1);
      if (state.settled) return elapsed;
    }
    return undefined;
  }

  it('gives up on a silent store one deadline after the call', async () => {
    const bounded = watch(withinDeadline(100, new Promise(() => {})));
    expect(await settledAfter(bounded, 1000)).toBe(100);
    expect(bounded.error).toBeInstanceOf(StoreUnavailableError);
    expect(bounded.error).toMatchObject({
      name: 'StoreUnavailableError',
      code: 'TB_STORE_UNAVAILABLE',
      message: 'Redis did not answer within 100 ms [TB_STORE_UNAVAILABLE]',
    });
  });

  it('waits on while the store answers other calls: one deadline after its last answer', async () => {
    const startedAt = performance.now();
    const bounded = watch(withinDeadline(100, new Promise(() => {}), () => startedAt + 60));
    expect(await settledAfter(bounded, 1000)).toBe(160);
    expect(bounded.error).toBeInstanceOf(StoreUnavailableError);
  });

  it('gives up after eight deadlines on a store that answers everything but this call', async () => {
    const bounded = watch(withinDeadline(100, new Promise(() => {}), () => performance.now()));
    expect(await settledAfter(bounded, 2000)).toBe(800);
    expect(bounded.error).toBeInstanceOf(StoreUnavailableError);
  });

  it('passes on the answer or the failure of the store, and nothing once it gave up', async () => {
    await expect(withinDeadline(100, Promise.resolve('ok'))).resolves.toBe('ok');
    const failure = new Error('refused');
    await expect(withinDeadline(100, Promise.reject(failure))).rejects.toBe(failure);
    // An answered call leaves no timer behind.
    expect(jest.getTimerCount()).toBe(0);
    let answer!: (value: string) => void;
    const late = watch(withinDeadline(100, new Promise<string>((resolve) => (answer = resolve))));
    await step(100);
    answer('too late');
    await step(0);
    expect(late.error).toBeInstanceOf(StoreUnavailableError);
  });
});

describe('withinDeadline when the answer and the deadline meet', () => {
  // The timer and its deferred check are stepped apart: a real setImmediate runs the check when the test lets it.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  const deferredCheck = () => new Promise((resolve) => setImmediate(resolve));

  it.each([
    ['an answer', 'answered'],
    ['a failure', 'refused'],
  ])('passes on %s that came after the timer fired, before its check, and leaves no timer behind', async (_, expected) => {
    let resolve!: () => void;
    let reject!: () => void;
    const work = new Promise<void>((res, rej) => ((resolve = res), (reject = () => rej(new Error('refused')))));
    // The store answers other calls all along: a check that ran would wait on.
    const bounded = withinDeadline(100, work, () => performance.now());
    const outcome = bounded.then(
      () => 'answered',
      (err: Error) => err.message,
    );
    jest.advanceTimersByTime(100);
    if (expected === 'answered') resolve();
    else reject();
    await deferredCheck();
    expect(await outcome).toBe(expected);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('withinDeadline on a process clock the test sets', () => {
  // Timers on a fake clock; performance.now() reads `clockMs`, so a timer can fire late, as under a blocked loop.
  let clockMs = 0;
  beforeEach(() => {
    clockMs = 0;
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'performance'] });
    jest.spyOn(performance, 'now').mockImplementation(() => clockMs);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** Fires the first deadline's timer `lateMs` late by the process clock, and runs its check. */
  async function fireLate(lateMs: number) {
    clockMs = 100 + lateMs;
    jest.advanceTimersByTime(100);
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('blames the store for a timer up to 20 ms late: it gives up', async () => {
    const bounded = withinDeadline(100, new Promise(() => {}));
    const failure = bounded.catch((err: unknown) => err);
    await fireLate(20);
    expect(jest.getTimerCount()).toBe(0);
    expect(await failure).toBeInstanceOf(StoreUnavailableError);
  });

  it('blames the loop for a timer more than 20 ms late: it waits that long again', async () => {
    const bounded = withinDeadline(100, new Promise(() => {}));
    bounded.catch(() => {});
    await fireLate(21);
    expect(jest.getTimerCount()).toBe(1);
  });
});
