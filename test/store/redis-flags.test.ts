// The Redis flag channel over a fake connection: the commands it sends, the replies and messages it reads or ignores.
import { redisFlagChannel } from '../../lib/store/redis-flags';
import { StoreUnavailableError } from '../../lib/store/unavailable';

/** A connection that records what is sent and answers each command with `reply`. */
function fakeConnection(reply: unknown) {
  const sent: { args: string[]; firstKey: string | undefined }[] = [];
  const listeners = new Map<string, (message: string) => void>();
  const stop = async () => {};
  return {
    sent,
    publish: (channel: string, message: string) => listeners.get(channel)?.(message),
    connection: {
      send: async (args: string[], firstKey?: string) => {
        sent.push({ args, firstKey });
        return reply;
      },
      subscribe: async (channel: string, onMessage: (message: string) => void) => {
        listeners.set(channel, onMessage);
        return stop;
      },
    },
    stop,
  };
}

describe('redisFlagChannel', () => {
  it('reads every flag of the hash under the prefix, skipping values other than 0 and 1 and a dangling field', async () => {
    const fake = fakeConnection(['chat', '0', 'search', '1', 'odd', 'yes', 'empty', '', 'dangling']);
    const flags = await redisFlagChannel(fake.connection, 'app:').readAll();
    expect([...flags]).toEqual([
      ['chat', false],
      ['search', true],
    ]);
    expect(fake.sent).toEqual([{ args: ['HGETALL', 'app:flags'], firstKey: 'app:flags' }]);
  });

  it('reads no flag from a reply that is not a list', async () => {
    expect((await redisFlagChannel(fakeConnection(null).connection, 'tb:').readAll()).size).toBe(0);
  });

  it('writes and announces in one script, due a quarter of the caller’s wait before the caller gives up', async () => {
    const fake = fakeConnection(1);
    const channel = redisFlagChannel(fake.connection, 'tb:', () => 1_000_000.5);
    await channel.write({ name: 'chat', on: true }, 1001);
    await channel.write({ name: 'chat', on: false }, 1001);
    const [on, off] = fake.sent;
    expect(on!.firstKey).toBe('tb:flags');
    expect(on!.args[0]).toBe('EVAL');
    // The script reads Redis's clock and refuses to write past the deadline (ARGV[4]).
    expect(on!.args[1]).toMatch(/TIME[\s\S]*> tonumber\(ARGV\[4\]\)[\s\S]*return 0[\s\S]*HSET[\s\S]*PUBLISH[\s\S]*return 1/);
    expect(on!.args.slice(2)).toEqual(['1', 'tb:flags', 'chat', '1', '{"name":"chat","on":true}', '1000751']);
    expect(off!.args.slice(2)).toEqual(['1', 'tb:flags', 'chat', '0', '{"name":"chat","on":false}', '1000751']);
  });

  it('rejects a write the script ran after its deadline', async () => {
    const late = redisFlagChannel(fakeConnection(0).connection, 'tb:').write({ name: 'chat', on: true }, 300);
    await expect(late).rejects.toThrow(StoreUnavailableError);
    await expect(late).rejects.toThrow('flag "chat"');
  });

  it('hears the changes published on the hash’s channel, and ignores any other message', async () => {
    const fake = fakeConnection(1);
    const heard: unknown[] = [];
    const stop = await redisFlagChannel(fake.connection, 'tb:').listen((change) => heard.push(change));
    expect(stop).toBe(fake.stop);
    for (const message of ['{"name":"chat","on":false}', 'not json', '{"name":"chat"}', '{"on":true}', '{"name":1,"on":true}'])
      fake.publish('tb:flags', message);
    fake.publish('tb:flags', '{"name":"search","on":true,"extra":1}');
    expect(heard).toEqual([
      { name: 'chat', on: false },
      { name: 'search', on: true },
    ]);
  });
});
