// Counting in slices of the event loop: long work yields when its slice is used up and resumes on a later turn.
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Work that can stop between steps: a generator that yields when its slice of time
 * is used up and returns its result at the end.
 */
export type Steps<T> = Generator<void, T, void>;

/** Tells resumable work when to yield. */
export interface Slice {
  /** True once the current slice of time is used up. */
  due(): boolean;
}

/** A slice that never ends: the work runs to its end in one go. */
export const WHOLE: Slice = { due: () => false };

/**
 * How long one slice may hold the event loop. Work checks the clock every few
 * hundred microseconds of work at most, so a slice overruns this by about as much.
 */
export const SLICE_MS = 8;

/** Runs `steps` to the end without yielding the event loop. */
export function runWhole<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Runs the work `start` makes in slices of `sliceMs`, giving the event loop a turn
 * (`setImmediate`: timers and I/O first) between slices. Work that ends within its
 * first slice costs no turn at all.
 */
export async function runSliced<T>(start: (slice: Slice) => Steps<T>, sliceMs = SLICE_MS): Promise<T> {
  return runSlicedNow(start, sliceMs);
}

/**
 * As `runSliced`, but work that ends within its first slice — a short prompt — is
 * answered at once, without a promise; only longer work returns one.
 */
export function runSlicedNow<T>(start: (slice: Slice) => Steps<T>, sliceMs = SLICE_MS): T | Promise<T> {
  const slice = { deadline: performance.now() + sliceMs, due: () => performance.now() > slice.deadline };
  const steps = start(slice);
  const step = steps.next();
  return step.done ? step.value : finishSliced(steps, slice, sliceMs);
}

async function finishSliced<T>(steps: Steps<T>, slice: { deadline: number }, sliceMs: number): Promise<T> {
  for (;;) {
    await nextTurn();
    slice.deadline = performance.now() + sliceMs;
    const step = steps.next();
    if (step.done) return step.value;
  }
}
