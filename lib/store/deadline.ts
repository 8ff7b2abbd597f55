// Store-call deadlines that measure the store, not this process's own backlog nor the store's queue.
import { StoreUnavailableError } from './unavailable';

/** A timer that fires later than this was held up by the event loop, not by the store. */
const LAG_TOLERANCE_MS = 20;
/** However busy the store or the process, a call is given up after this many deadlines in all. */
const MAX_DEADLINES = 8;

/** The longest `withinDeadline(timeoutMs, …)` waits: after it, whatever the store does is too late for the caller. */
export function longestWaitMs(timeoutMs: number): number {
  return timeoutMs * MAX_DEADLINES;
}

/**
 * Waits for `work` while the store shows it is alive, never longer than
 * `MAX_DEADLINES × timeoutMs`. node-redis leaves a command written to a stalled
 * server pending forever, so only a timer of ours bounds the wait; it fires when the
 * store has answered nothing — this call or any other, as `lastAnswerAt` (a
 * `performance.now()` instant) tells — for `timeoutMs`. A store that keeps answering
 * is busy, not dead: a call queued behind others waits on. So does a call whose timer
 * fired late because this process was too busy to run it (timers run before sockets
 * are read in each turn of the loop): sockets are read first, and time the loop spent
 * blocked is not charged to the store.
 */
export function withinDeadline<T>(timeoutMs: number, work: Promise<T>, lastAnswerAt: () => number = () => -Infinity): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const startedAt = performance.now();
    let dueAt = startedAt + timeoutMs;

    const giveUpOrWait = () => {
      const late = performance.now() - dueAt;
      // setImmediate runs after the poll phase: replies already received are read first.
      setImmediate(() => {
        if (done) return;
        const now = performance.now();
        const quietFor = now - Math.max(startedAt, lastAnswerAt());
        const wait = late > LAG_TOLERANCE_MS ? late : timeoutMs - quietFor;
        if (wait > 0 && now + wait - startedAt <= timeoutMs * MAX_DEADLINES) {
          dueAt = now + wait;
          timer = setTimeout(giveUpOrWait, wait);
          return;
        }
        done = true;
        reject(new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`));
      });
    };
    timer = setTimeout(giveUpOrWait, timeoutMs);

    work.then(
      (value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
