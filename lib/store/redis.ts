// redisStore: budgets shared by many processes in Redis or Redis Cluster, one Lua script per slot.
import { checkOptionNames, optionNames } from '../options/check';
import { redisFlagChannel } from './redis-flags';
import { type RedisClient, hashTagOf, onConnectionError, redisConnection, scriptRunner } from './redis-transport';
import { longestWaitMs, withinDeadline } from './deadline';
import { amountOf, callUsageOf, inputAmountOf, outputWeightOf, reservedAmountOf } from './amounts';
import { leaseKeyOf, newLeaseId, spentKeyOf } from './leases';
import {
  ADD_SCRIPT,
  CANCEL_SCRIPT,
  GRANTED,
  HEARTBEAT_SCRIPT,
  type LuaScript,
  RANK_SCRIPT,
  READ_SCRIPT,
  REFUSED,
  REPLAN,
  RESERVE_SCRIPT,
  SETTLE_SCRIPT,
  USAGE_SCRIPT,
} from './scripts';
import {
  type CallUsage,
  type CountedElsewhere,
  DEFAULT_LEASE_MS,
  type RankIncrement,
  type RankedMember,
  type ReserveRequest,
  type ReserveResult,
  type Reservation,
  type ReservedPart,
  type ScopeRequest,
  type ScopeState,
  type SettleReport,
  type Store,
} from './types';
import { errorReporter } from './report';
import { StoreUnavailableError } from './unavailable';
import { type WindowPlan, assertTokenCount, grantedResult, planWindow, refusedResult, scopeState } from './windows';

export interface RedisStoreOptions {
  /** Prepended to every key. Default `'tb:'`. */
  prefix?: string;
  /** Deadline of every store call, ms; past it the call throws StoreUnavailableError. Default 1000. */
  timeoutMs?: number;
  /**
   * Told when Redis becomes unreachable (a connection error, a call past its
   * deadline), at most once per outage, and when a cluster rollback fails.
   * Default: one `console.warn`.
   */
  onError?: (err: Error) => void;
  /** Tests only: the store's clock instead of Redis `TIME`. */
  now?: () => number;
}

const REDIS_STORE_OPTION_NAMES = optionNames<RedisStoreOptions>({ prefix: true, timeoutMs: true, onError: true, now: true });

/** Outcome of the script of one slot: which request scopes it covered and what it saw. */
interface SlotOutcome {
  scopeIndexes: number[];
  status: number;
  /** GRANTED: the output cap this slot afforded; REFUSED: the request index of the refusing scope. */
  detail: number;
  plans: WindowPlan[];
  values: number[][];
  nowMs: number;
}

/**
 * Counts budgets in Redis through the app's own client — node-redis 4, 5 or 6
 * (`createClient`, `createCluster`) or ioredis 5 or 6 (`new Redis()`, `new Redis.Cluster()`)
 * — using Redis's clock. The client is the caller's: the store never connects or closes it.
 */
export function redisStore(redis: RedisClient, options: RedisStoreOptions = {}): Store & Required<Pick<Store, 'flagChannel'>> {
  checkOptionNames(options, REDIS_STORE_OPTION_NAMES, 'redisStore');
  const prefix = options.prefix ?? 'tb:';
  const timeoutMs = options.timeoutMs ?? 1000;
  const onError = errorReporter(options.onError);
  const runner = scriptRunner(redis);
  const clock = redisClock(options.now);

  let inOutage = false;
  const reportOutage = (err: Error) => {
    if (!inOutage) onError(err);
    inOutage = true;
  };
  const stopListening = onConnectionError(redis, reportOutage);

  /** When Redis last answered any call of this store (`performance.now()`): a store that answers is alive. */
  let lastAnswerAt = -Infinity;
  const run = async (script: LuaScript, keys: string[], args: string[]) => {
    const reply = await runner.run(script, keys, args);
    lastAnswerAt = performance.now();
    inOutage = false;
    return reply;
  };

  /** A store call bounded by `timeoutMs`; `work` can ask whether the caller has given up on it. */
  const call = async <T>(work: (gaveUp: () => boolean) => Promise<T>): Promise<T> => {
    let gaveUp = false;
    try {
      return await withinDeadline(
        timeoutMs,
        work(() => gaveUp),
        () => lastAnswerAt,
      );
    } catch (err) {
      gaveUp = true;
      if (err instanceof StoreUnavailableError) reportOutage(err);
      throw err;
    }
  };

  /**
   * Runs a window-planning script over scopes of one slot. Windows are planned on
   * the best estimate of Redis's time, and the script is told to do nothing past the
   * longest time the caller may wait; if Redis's time falls outside the windows or past
   * that, the call is planned again, twice at most, unless the caller has given up. A
   * grant the caller no longer waits for is given back when it arrives (reserveSlot).
   */
  const runPlanned = async (
    script: LuaScript,
    request: ReserveRequest,
    scopeIndexes: number[],
    gaveUp: () => boolean,
    leaseId = '',
  ): Promise<SlotOutcome> => {
    for (let attempt = 1; ; attempt++) {
      const estimatedNowMs = clock.estimate();
      const plans = scopeIndexes.map((i) => planWindow(request.scopes[i]!, estimatedNowMs, prefix));
      const args = [
        clock.scriptArgument(estimatedNowMs),
        String(estimatedNowMs + longestWaitMs(timeoutMs)),
        String(request.input),
        String(request.maxOutput),
        leaseId,
        String(request.leaseMs ?? DEFAULT_LEASE_MS),
      ];
      for (const [j, plan] of plans.entries()) {
        const scope = request.scopes[scopeIndexes[j]!]!;
        args.push(
          String(scope.limit),
          String(plan.keys.length),
          String(plan.validFromMs),
          String(plan.validToMs),
          String(plan.expiresAtMs),
          String(plan.bucketMs),
          String(inputAmountOf(scope, request.input)),
          String(outputWeightOf(scope)),
        );
      }
      const keys = plans.flatMap((plan) => (plan.bucketMs > 0 ? [plan.keys[plan.keys.length - 1]!] : plan.keys));
      for (const i of scopeIndexes) keys.push(leaseKeyOf(request.scopes[i]!.key, prefix));
      const [status, nowMs, detail, ...counters] = await run(script, keys, args);
      clock.learn(nowMs!);
      if (status === REPLAN) {
        // A caller that gave up has its answer already; otherwise try again.
        if (attempt === 3 || gaveUp()) throw new StoreUnavailableError('Redis time kept leaving the windows planned for it');
        continue;
      }
      // The script used Redis's time (sliding buckets are renamed to it): so do the plans it answers for.
      const usedPlans = plans.map((plan, j) =>
        nowMs! >= plan.validFromMs && nowMs! < plan.validToMs
          ? plan
          : planWindow(request.scopes[scopeIndexes[j]!]!, nowMs!, prefix),
      );
      const values = usedPlans.map((plan) => counters.splice(0, plan.keys.length));
      return {
        scopeIndexes,
        status: status!,
        detail: status === REFUSED ? scopeIndexes[detail! - 1]! : detail!,
        plans: usedPlans,
        values,
        nowMs: nowMs!,
      };
    }
  };

  /** Groups of request scopes that one script can serve: all of them, unless clustered. */
  const slotGroups = (keys: string[]): number[][] => {
    if (keys.length === 0) return [];
    if (!runner.clustered) return [keys.map((_, i) => i)];
    const groups = new Map<string, number[]>();
    keys.forEach((key, i) => {
      const tag = hashTagOf(key);
      const group = groups.get(tag);
      if (group) group.push(i);
      else groups.set(tag, [i]);
    });
    return [...groups.values()];
  };

  /** Runs `script` once per slot over the items whose counter keys are `keys`, all in parallel. */
  const perSlot = <T>(items: T[], keyOf: (item: T) => string, runSlot: (slotItems: T[]) => Promise<unknown>) =>
    call(() => Promise.all(slotGroups(items.map(keyOf)).map((group) => runSlot(group.map((i) => items[i]!)))));

  /** Settles `parts` of the reservation `leaseId` at `usage`, ending their leases; reports tracked spend. */
  const settleParts = async (parts: ReservedPart[], leaseId: string, input: number, usage: CallUsage): Promise<SettleReport> => {
    const report: SettleReport = { spent: [] };
    await perSlot(
      parts,
      (part) => part.windowKey,
      async (slotParts) => {
        const args = [leaseId];
        for (const part of slotParts) {
          const used = amountOf(part.scope, usage);
          assertTokenCount(used, 'the settled amount');
          args.push(
            String(part.amount),
            String(inputAmountOf(part.scope, input)),
            String(used),
            part.scope.tracksSpend ? '1' : '0',
            String(part.scope.keepSpentMs ?? 0),
          );
        }
        const keys = [...slotParts.map((p) => p.windowKey), ...slotParts.map((p) => leaseKeyOf(p.scope.key, prefix))];
        const moves = await run(SETTLE_SCRIPT, keys, args);
        slotParts.forEach((part, i) => {
          const [before, after] = [moves[2 * i]!, moves[2 * i + 1]!];
          if (part.scope.tracksSpend && after >= 0) report.spent.push({ scope: part.scope, before, after });
        });
      },
    );
    return report;
  };

  /** Cluster only: gives back what the slots that granted took when another slot refused or failed. */
  /** Gives back what the slots granted; false when Redis did not confirm it. */
  const rollBack = async (request: ReserveRequest, leaseId: string, granted: SlotOutcome[]): Promise<boolean> => {
    const parts = granted.flatMap((slot) =>
      slot.plans.map((plan, j) => ({
        scope: request.scopes[slot.scopeIndexes[j]!]!,
        windowKey: plan.keys[plan.keys.length - 1]!,
        amount: reservedAmountOf(request.scopes[slot.scopeIndexes[j]!]!, request.input, slot.detail),
      })),
    );
    if (parts.length === 0) return true;
    try {
      await settleParts(parts, leaseId, request.input, callUsageOf(0, []));
      return true;
    } catch (err) {
      onError(
        new StoreUnavailableError(
          'A reservation granted by one cluster slot could not be rolled back after another slot refused or failed; its lease gives it back later',
          { cause: err },
        ),
      );
      return false;
    }
  };

  /**
   * Reservations of one slot whose caller gave up before their reply came, by lease id
   * and slot: their script may still run (a stalled server reads it when it resumes,
   * even from a connection closed since), so they are cancelled before the next
   * reservation, until Redis confirms it.
   */
  const uncertain = new Map<string, { leaseId: string; leaseKeys: string[] }>();
  let cancelling: Promise<void> | undefined;
  const cancelUncertain = async () => {
    for (const [id, { leaseId, leaseKeys }] of uncertain) {
      try {
        await run(CANCEL_SCRIPT, leaseKeys, [leaseId, String(longestWaitMs(timeoutMs) + 60_000)]);
      } catch (err) {
        // Redis is still away: kept for the next reservation. Anything else would fail every time.
        if (err instanceof StoreUnavailableError) throw err;
        onError(err instanceof Error ? err : new Error(String(err)));
      }
      uncertain.delete(id);
    }
  };
  /** Cancels what is uncertain, one pass at a time; a failure leaves it for the next reservation. */
  const settleUncertain = (): Promise<void> => {
    cancelling ??= call(cancelUncertain).finally(() => {
      cancelling = undefined;
    });
    return cancelling;
  };

  /**
   * One slot's reservation, bounded by the deadline. The script refuses to run past
   * the deadline, but one that ran just before it can still answer late (a slow
   * network, a busy event loop): such a grant is given back when its reply arrives,
   * since the caller has already been told the store was unavailable. One whose reply
   * never comes is cancelled (see `uncertain`).
   */
  const reserveSlot = (request: ReserveRequest, leaseId: string, group: number[]): Promise<SlotOutcome> => {
    let reply: Promise<SlotOutcome> | undefined;
    return call((gaveUp) => (reply = runPlanned(RESERVE_SCRIPT, request, group, gaveUp, leaseId))).catch((err: unknown) => {
      const id = `${leaseId}|${group[0]}`;
      uncertain.set(id, { leaseId, leaseKeys: group.map((i) => leaseKeyOf(request.scopes[i]!.key, prefix)) });
      reply?.then(
        async (late) => {
          // A grant given back stays uncertain until Redis confirms it: else its lease would keep its input.
          if (late.status !== GRANTED || (await rollBack(request, leaseId, [late]))) uncertain.delete(id);
        },
        () => {},
      );
      throw err;
    });
  };

  const settle = async (reservation: Reservation, actual: number | CallUsage): Promise<SettleReport> => {
    const usage = callUsageOf(
      actual,
      reservation.parts.map((part) => part.scope),
    );
    if (reservation.parts.length === 0) return { spent: [] };
    return settleParts(reservation.parts, reservation.leaseId, reservation.input, usage);
  };

  return {
    async reserve(request: ReserveRequest): Promise<ReserveResult> {
      assertTokenCount(request.input, 'input');
      assertTokenCount(request.maxOutput, 'maxOutput');
      const { scopes } = request;
      // Nothing granted after an outage before what may have landed unseen during it is cancelled.
      if (uncertain.size > 0) await settleUncertain();
      const groups = slotGroups(scopes.map((scope) => prefix + scope.key));
      const leaseId = newLeaseId();
      // Each slot has its own deadline, so that a stalled node cannot hide what the others granted.
      const settled = await Promise.allSettled(groups.map((group) => reserveSlot(request, leaseId, group)));
      const outcomes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      const granted = outcomes.filter((slot) => slot.status === GRANTED);
      const failure = settled.find((s) => s.status === 'rejected');
      const refusals = outcomes.filter((slot) => slot.status === REFUSED);
      if (failure || refusals.length > 0) await rollBack(request, leaseId, granted);
      if (failure) throw failure.reason;

      const plans: WindowPlan[] = [];
      const values: number[][] = [];
      const amounts: number[] = [];
      for (const slot of outcomes) {
        slot.scopeIndexes.forEach((requestIndex, j) => {
          plans[requestIndex] = slot.plans[j]!;
          values[requestIndex] = slot.values[j]!;
          amounts[requestIndex] =
            slot.status === GRANTED ? reservedAmountOf(scopes[requestIndex]!, request.input, slot.detail) : 0;
        });
      }
      const nowMs = outcomes[0]?.nowMs ?? clock.estimate();
      if (refusals.length > 0) {
        // What was rolled back is no longer counted.
        scopes.forEach((_, i) => values[i]!.push(values[i]!.pop()! - amounts[i]!));
        return refusedResult(request, plans, values, nowMs, Math.min(...refusals.map((slot) => slot.detail)));
      }
      // Each slot granted what it could afford; the smallest grant is the cap, and
      // settle later moves every counter by what the call really used.
      const outputCap = Math.min(request.maxOutput, ...granted.map((slot) => slot.detail));
      return grantedResult(request, plans, values, nowMs, outputCap, amounts, leaseId);
    },

    settle,

    release: (reservation: Reservation) => settle(reservation, 0),

    async add(counts: readonly CountedElsewhere[], batchId = newLeaseId()): Promise<SettleReport> {
      const planned = counts.map((count) => ({ count, plan: planWindow(count.scope, count.atMs, prefix) }));
      const nowArgument = clock.scriptArgument(clock.estimate());
      const report: SettleReport = { spent: [] };
      await perSlot(
        planned,
        ({ plan }) => plan.keys[plan.keys.length - 1]!,
        async (slot) => {
          const args = [nowArgument, batchId];
          for (const { count, plan } of slot) {
            const spent = count.scope.tracksSpend ? (count.spent ?? 0) : 0;
            args.push(String(count.amount), String(plan.expiresAtMs), String(spent), String(count.scope.keepSpentMs ?? 0));
          }
          const moves = await run(
            ADD_SCRIPT,
            slot.map(({ plan }) => plan.keys[plan.keys.length - 1]!),
            args,
          );
          slot.forEach(({ count }, i) => {
            const [before, after] = [moves[2 * i], moves[2 * i + 1]];
            if (before !== undefined && after !== undefined && after >= 0)
              report.spent.push({ scope: count.scope, before, after });
          });
        },
      );
      return report;
    },

    async spentAt(scope: ScopeRequest, atMs: readonly number[]): Promise<number[]> {
      if (atMs.length === 0) return [];
      const keys = atMs.map((at) => {
        const plan = planWindow(scope, at, prefix);
        return spentKeyOf(plan.keys[plan.keys.length - 1]!);
      });
      return call(() => run(READ_SCRIPT, keys, []));
    },

    async usage(scope: ScopeRequest): Promise<ScopeState> {
      const request: ReserveRequest = { scopes: [scope], input: 0, maxOutput: 0 };
      const slot = await call((gaveUp) => runPlanned(USAGE_SCRIPT, request, [0], gaveUp));
      return scopeState(scope, slot.plans[0]!, slot.values[0]!, slot.nowMs);
    },

    async heartbeat(processId: string, ttlMs: number): Promise<number> {
      // Not through `call`: a heartbeat that fails (a client not connected yet, or closed) is no outage to report.
      const beat = run(HEARTBEAT_SCRIPT, [`${prefix}processes`], [processId, String(ttlMs)]);
      const [alive] = await withinDeadline(timeoutMs, beat, () => lastAnswerAt);
      return alive!;
    },

    async rank(increments: readonly RankIncrement[]): Promise<void> {
      await perSlot(
        [...increments],
        (increment) => prefix + increment.key,
        (slot) =>
          run(
            RANK_SCRIPT,
            slot.map((increment) => prefix + increment.key),
            slot.flatMap(({ member, amount, ttlMs }) => [member, String(amount), String(ttlMs)]),
          ),
      );
    },

    async ranked(key: string, limit: number): Promise<RankedMember[]> {
      if (limit <= 0) return [];
      const reply = await call(() =>
        redisConnection(redis).send(['ZREVRANGE', prefix + key, '0', String(limit - 1), 'WITHSCORES'], prefix + key),
      );
      // RESP2: member, score, member, score…; RESP3: [member, score] pairs.
      const flat = (reply as unknown[]).flat().map(String);
      const members: RankedMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) members.push({ member: flat[i]!, score: Number(flat[i + 1]) });
      return members;
    },

    now: () => clock.estimate(),

    flagChannel: () => redisFlagChannel(redisConnection(redis), prefix, () => clock.estimate()),

    async close(): Promise<void> {
      stopListening();
    },
  };
}

/** The store's best estimate of Redis's clock, corrected by every time a script reports. */
interface RedisClock {
  estimate(): number;
  learn(redisNowMs: number): void;
  /** The script's `now` argument for a call planned at `estimateMs`: empty to use Redis TIME. */
  scriptArgument(estimateMs: number): string;
}

function redisClock(injectedNow: (() => number) | undefined): RedisClock {
  if (injectedNow) return { estimate: injectedNow, learn: () => {}, scriptArgument: (estimateMs) => String(estimateMs) };
  let offsetMs = 0;
  return {
    estimate: () => Date.now() + offsetMs,
    learn: (redisNowMs) => {
      offsetMs = redisNowMs - Date.now();
    },
    scriptArgument: () => '',
  };
}
