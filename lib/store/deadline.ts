// Store-call deadlines that measure the store, not this process's own event-loop backlog.
import { StoreUnavailableError } from './unavailable';

/** A timer that fires later than this was held up by the event loop, not by the store. */
const LAG_TOLERANCE_MS = 20;
/** However busy the process, a call is given up once it was blocked this many deadlines in all. */
const MAX_BLOCKED_DEADLINES = 4;

/**
 * Waits for `work` no longer than `timeoutMs` of the store's time. node-redis leaves
 * a command already written to a stalled server pending forever, so only a timer of
 * ours bounds the wait. But a timer also fires when this process was too busy to read
 * a reply that came back long ago (timers run before sockets are read in each turn of
 * the loop): so when the timer fires, sockets are read first, and time the loop spent
 * blocked is not charged to the store.
 */
export function withinDeadline<T>(timeoutMs: number, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let dueAt = performance.now() + timeoutMs;
    let blockedMs = 0;

    const giveUpOrWait = () => {
      const late = performance.now() - dueAt;
      // setImmediate runs after the poll phase: a reply already received settles `work` first.
      setImmediate(() => {
        if (done) return;
        if (late > LAG_TOLERANCE_MS && blockedMs + late <= timeoutMs * MAX_BLOCKED_DEADLINES) {
          blockedMs += late;
          dueAt = performance.now() + late;
          timer = setTimeout(giveUpOrWait, late);
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
