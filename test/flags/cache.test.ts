// The flag cache over a channel the test drives: first load, announcements, re-reads that never undo newer changes, outages, its default periods on a fake clock.
import { createFlagCache, type FlagCache } from '../../lib/flags/cache';
import type { FlagChange, FlagChannel } from '../../lib/store/types';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import { until } from '../helpers/until';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Every channel made by the test in progress: what it left unanswered is answered after it. */
const channels: ScriptedChannel[] = [];

/** A channel whose every read and write waits for the test to answer it. */
class ScriptedChannel implements FlagChannel {
  reads: Deferred<Map<string, boolean>>[] = [];
  writes: { change: FlagChange; reply: Deferred<void> }[] = [];
  listeners: ((change: FlagChange) => void)[] = [];
  stopped = 0;
  listenReply: Deferred<void> | undefined;

  constructor() {
    channels.push(this);
  }

  /** Fails whatever is still waiting, as a closed connection would: no deadline timer outlives its test. */
  hangUp() {
    const closed = new Error('connection closed');
    for (const read of this.reads) read.reject(closed);
    for (const { reply } of this.writes) reply.reject(closed);
    this.listenReply?.reject(closed);
  }

  readAll() {
    const reply = deferred<Map<string, boolean>>();
    this.reads.push(reply);
    return reply.promise;
  }
  write(change: FlagChange) {
    const reply = deferred<void>();
    this.writes.push({ change, reply });
    return reply.promise;
  }
  async listen(onChange: (change: FlagChange) => void) {
    await this.listenReply?.promise;
    this.listeners.push(onChange);
    return async () => {
      this.stopped += 1;
    };
  }
  announce(change: FlagChange) {
    this.listeners.forEach((listener) => listener(change));
  }
}

let cache: FlagCache | undefined;
afterEach(async () => {
  await cache?.close();
  for (const channel of channels.splice(0)) channel.hangUp();
});

describe('without a channel (memory store)', () => {
  it('keeps flags in the process: set, get, list', async () => {
    cache = createFlagCache();
    expect(cache.loaded).toBe(true);
    expect(await cache.get('chat')).toBeUndefined();
    await cache.set('search', true);
    await cache.set('chat', false);
    expect(cache.peek('chat')).toBe(false);
    expect(await cache.get('chat')).toBe(false);
    expect(await cache.list()).toEqual({ chat: false, search: true });
    expect(Object.keys(await cache.list())).toEqual(['chat', 'search']);
  });

  it('lists flags by name, whatever order they were set in', async () => {
    cache = createFlagCache();
    for (const name of ['m', 'c', 'x', 'a', 'q', 'b']) await cache.set(name, true);
    expect(Object.keys(await cache.list())).toEqual(['a', 'b', 'c', 'm', 'q', 'x']);
  });

  it.each<[string, unknown, unknown]>([
    ['an empty name', '', true],
    ['a name with a colon', 'a:b', true],
    ['a non-boolean value', 'chat', 'off'],
    ['a number', 'chat', 0],
  ])('refuses %s', async (_what, name, on) => {
    cache = createFlagCache();
    await expect(cache.set(name as string, on as boolean)).rejects.toMatchObject({ code: 'TB_INVALID_OPTION' });
    expect(await cache.list()).toEqual({});
  });

  it('says what a non-boolean value should be', async () => {
    cache = createFlagCache();
    await expect(cache.set('chat', 'off' as never)).rejects.toThrow(
      'flags.set("chat", on) needs on to be true or false; got "off".',
    );
  });
});

describe('over a channel', () => {
  it('listens before the first read, and is loaded once the read answers', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    expect(channel.listeners).toHaveLength(1);
    expect(cache.loaded).toBe(false);
    const got = cache.get('chat');
    channel.reads[0]!.resolve(new Map([['chat', false]]));
    expect(await got).toBe(false);
    expect(cache.loaded).toBe(true);
  });

  it('applies every announcement at once', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map());
    await cache.whenLoaded();
    channel.announce({ name: 'chat', on: false });
    expect(cache.peek('chat')).toBe(false);
    channel.announce({ name: 'chat', on: true });
    expect(cache.peek('chat')).toBe(true);
  });

  it('does not let a read that started before a change undo it', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    // The read was answered by Redis before the flip; the flip's announcement arrives first.
    channel.announce({ name: 'chat', on: false });
    channel.reads[0]!.resolve(
      new Map([
        ['chat', true],
        ['search', false],
      ]),
    );
    await cache.whenLoaded();
    expect(cache.peek('chat')).toBe(false);
    expect(cache.peek('search')).toBe(false);
  });

  it('takes what a re-read finds: a change whose announcement was lost, a flag no longer stored', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, refreshMs: 20 });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(
      new Map([
        ['chat', true],
        ['old', false],
      ]),
    );
    await cache.whenLoaded();
    await until(() => channel.reads.length === 2);
    channel.reads[1]!.resolve(new Map([['chat', false]]));
    await until(() => cache!.peek('chat') === false);
    expect(cache.peek('old')).toBeUndefined();
  });

  it('reads once when it could not listen: no second read for changes made while subscribing', async () => {
    const channel = new ScriptedChannel();
    channel.listenReply = deferred<void>();
    channel.listenReply.reject(new Error('no subscription'));
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map([['chat', true]]));
    await cache.whenLoaded();
    expect(channel.reads).toHaveLength(1);
    expect(cache.peek('chat')).toBe(true);
  });

  it('does not let a re-read that started before a flag was made remove it', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, refreshMs: 20 });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map([['chat', true]]));
    await cache.whenLoaded();
    await until(() => channel.reads.length === 2);
    // Read before 'search' was stored; its announcement arrives first.
    channel.announce({ name: 'search', on: false });
    channel.reads[1]!.resolve(new Map([['chat', true]]));
    await until(() => channel.reads.length === 3);
    expect(cache.peek('search')).toBe(false);
    expect(cache.peek('chat')).toBe(true);
  });

  it('writes through the channel and applies the change here once written', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map());
    const setting = cache.set('chat', false);
    await until(() => channel.writes.length === 1);
    expect(channel.writes[0]!.change).toEqual({ name: 'chat', on: false });
    expect(cache.peek('chat')).toBeUndefined();
    channel.writes[0]!.reply.resolve();
    await setting;
    expect(cache.peek('chat')).toBe(false);
  });

  it('keeps a later change heard before its own write was acknowledged', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map());
    const setting = cache.set('chat', false);
    await until(() => channel.writes.length === 1);
    // Redis ran our write, then another process's: both announcements arrive before our reply.
    channel.announce({ name: 'chat', on: false });
    channel.announce({ name: 'chat', on: true });
    channel.writes[0]!.reply.resolve();
    await setting;
    expect(cache.peek('chat')).toBe(true);
  });

  it('rejects a write the store refuses and changes nothing here', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map([['chat', true]]));
    const setting = cache.set('chat', false);
    await until(() => channel.writes.length === 1);
    channel.writes[0]!.reply.reject(new StoreUnavailableError('down'));
    await expect(setting).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(cache.peek('chat')).toBe(true);
  });

  it('gives up on a write past its deadline', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, timeoutMs: 30 });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map());
    await expect(cache.set('chat', false)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(cache.peek('chat')).toBeUndefined();
  });

  it('keeps the last values while reads fail, reports the outage once, and recovers', async () => {
    const channel = new ScriptedChannel();
    const errors: Error[] = [];
    cache = createFlagCache({ channel, refreshMs: 10, onError: (err) => errors.push(err) });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map([['chat', false]]));
    await cache.whenLoaded();
    for (let i = 1; i <= 3; i++) {
      await until(() => channel.reads.length === i + 1);
      channel.reads[i]!.reject(new StoreUnavailableError('down'));
    }
    await until(() => channel.reads.length === 5);
    expect(errors).toHaveLength(1);
    expect(cache.peek('chat')).toBe(false);
    channel.reads[4]!.resolve(new Map([['chat', true]]));
    await until(() => cache!.peek('chat') === true);
    await until(() => channel.reads.length === 6);
    channel.reads[5]!.reject(new StoreUnavailableError('down again'));
    await until(() => errors.length === 2);
  });

  it('is loaded, with nothing known, when the first read times out', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, timeoutMs: 30, onError: () => {} });
    await cache.whenLoaded();
    expect(cache.loaded).toBe(true);
    expect(await cache.list()).toEqual({});
  });

  it('ends the first load unknown within one deadline when neither listening nor reading succeeds in time, then reads and listens again on the next refresh', async () => {
    const channel = new ScriptedChannel();
    channel.listenReply = deferred<void>();
    cache = createFlagCache({ channel, timeoutMs: 30, refreshMs: 20, onError: () => {} });
    await cache.whenLoaded();
    // Subscribing and reading run side by side (one deadline, not two): the read was sent before the load ended.
    expect([channel.reads.length, cache.known]).toEqual([1, false]);
    await until(() => channel.reads.length === 2);
    channel.reads[1]!.resolve(new Map([['chat', false]]));
    await until(() => cache!.known);
    expect(cache.peek('chat')).toBe(false);
    channel.listenReply.resolve();
    await until(() => channel.listeners.length === 1);
    channel.announce({ name: 'chat', on: true });
    expect(cache.peek('chat')).toBe(true);
  });

  it('does not report a read still in flight when it was closed as an outage', async () => {
    const channel = new ScriptedChannel();
    const errors: Error[] = [];
    cache = createFlagCache({ channel, timeoutMs: 30, onError: (err) => errors.push(err) });
    await until(() => channel.reads.length === 1);
    await cache.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual([]);
  });

  it('stops listening and re-reading when closed', async () => {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, refreshMs: 10 });
    await until(() => channel.reads.length === 1);
    channel.reads[0]!.resolve(new Map());
    await cache.whenLoaded();
    await cache.close();
    expect(channel.stopped).toBe(1);
    const reads = channel.reads.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(channel.reads.length).toBe(reads);
  });
});

describe('over a channel, on a fake clock', () => {
  // A real setImmediate: a deadline's check, deferred by setImmediate, runs at the instant the step reached.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  async function step(ms: number) {
    await jest.advanceTimersByTimeAsync(ms);
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** A cache over a channel whose first load, and the read again once it listens, have been answered. */
  async function loadedCache(options: Parameters<typeof createFlagCache>[0] = {}) {
    const channel = new ScriptedChannel();
    cache = createFlagCache({ channel, ...options });
    await step(0);
    channel.reads[0]!.resolve(new Map([['chat', true]]));
    await step(0);
    // Read before the subscription was up: a change made meanwhile is found by this second read.
    expect(channel.reads).toHaveLength(2);
    channel.reads[1]!.resolve(new Map([['chat', false]]));
    await cache.whenLoaded();
    await step(0);
    expect(cache.peek('chat')).toBe(false);
    return channel;
  }

  it('by default re-reads every 5 s, and gives a read 1 s before it reports the outage', async () => {
    const errors: Error[] = [];
    const channel = await loadedCache({ onError: (err) => errors.push(err) });
    await step(4999);
    expect(channel.reads).toHaveLength(2);
    await step(1);
    expect(channel.reads).toHaveLength(3);
    await step(999);
    expect(errors).toEqual([]);
    await step(1);
    expect(errors).toEqual([expect.objectContaining({ message: 'Redis did not answer within 1000 ms [TB_STORE_UNAVAILABLE]' })]);
  });

  it('sends no read while the last one is still on its way', async () => {
    const channel = await loadedCache({ refreshMs: 10, timeoutMs: 60_000 });
    await step(10);
    expect(channel.reads).toHaveLength(3);
    await step(100);
    expect(channel.reads).toHaveLength(3);
    channel.reads[2]!.resolve(new Map());
    await step(10);
    expect(channel.reads).toHaveLength(4);
  });
});
