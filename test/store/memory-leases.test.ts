// The memory store's default lease: a reservation made without leaseMs is taken back 11 minutes after it was made.
import { memoryStore } from '../../lib/store/memory';
import { userScopeKey } from '../../lib/store/keys';
import { granted, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);
const MINUTE = 60_000;

describe('a reservation without leaseMs', () => {
  it('holds its output tokens for 11 minutes (the openai SDK waits 10), then is settled at its input', async () => {
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs });
    const user = scope(userScopeKey('default-lease', 'day'), 10_000);
    granted(await store.reserve({ scopes: [user], input: 100, maxOutput: 900 }));
    nowMs = NOON + 11 * MINUTE - 1;
    granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    expect((await store.usage(user)).used).toBe(1000 + 1);
    nowMs = NOON + 11 * MINUTE;
    granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    // The first call keeps its 100 prompt tokens; its 900 output tokens are given back.
    expect((await store.usage(user)).used).toBe(100 + 2);
    await store.close();
  });
});
