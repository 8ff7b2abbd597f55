// Heap held by memoryStore with 1M users' day windows, and after they expire and are swept. Run: npx tsx bench/memory-store.ts
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { userScopeKey } from '../lib/store/keys';
import { memoryStore } from '../lib/store/memory';
import type { FixedWindow } from '../lib/store/types';

const USERS = 1_000_000;
const DAY = 86_400_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsedMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const utcDay: FixedWindow = {
  kind: 'fixed',
  periodAt(nowMs) {
    const startMs = nowMs - (nowMs % DAY);
    return { id: new Date(startMs).toISOString().slice(0, 10), startMs, endMs: startMs + DAY };
  },
};

async function main(): Promise<void> {
  let nowMs = Date.UTC(2026, 10, 28, 12);
  const store = memoryStore({ now: () => nowMs });
  const empty = heapUsedMb();

  const fillStartedAt = performance.now();
  for (let user = 0; user < USERS; user++) {
    const scope = {
      kind: 'user',
      key: userScopeKey(`user${user}`, 'day'),
      limit: 100_000,
      window: utcDay,
      onUnavailable: 'fail-closed',
    } as const;
    await store.reserve({ scopes: [scope], input: 90, maxOutput: 10 });
  }
  const fillMs = performance.now() - fillStartedAt;
  const full = heapUsedMb();

  nowMs += DAY; // past the period end and the settle grace
  const sweepStartedAt = performance.now();
  const removed = store.sweep();
  const sweepMs = performance.now() - sweepStartedAt;
  const swept = heapUsedMb();
  await store.close();

  console.log(
    `memoryStore, ${USERS.toLocaleString('en')} users with a day window each (key like ${userScopeKey('user123456', 'day')}:2026-11-28)`,
  );
  console.log(`  heap before:            ${empty.toFixed(1)} MB`);
  console.log(
    `  heap with every window: ${full.toFixed(1)} MB (+${(full - empty).toFixed(1)} MB, ${(((full - empty) * 2 ** 20) / USERS).toFixed(0)} bytes per user; filled in ${(fillMs / 1000).toFixed(1)} s)`,
  );
  console.log(
    `  heap after the sweep:   ${swept.toFixed(1)} MB (${removed.toLocaleString('en')} windows removed in ${sweepMs.toFixed(0)} ms, size now ${store.size})`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
