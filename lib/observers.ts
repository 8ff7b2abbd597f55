// What a budget tells its observers (metrics, the admin view): nothing is done for them until one is added.
import type { BudgetContext, CallObserver, ReserveOutcome, SettledCall } from './context';
import type { BudgetRefusal } from './refusal';
import type { Reservation, SettleReport } from './store/types';
import type { SpendAlert } from './types';

/** One observer: every method optional; each must only count (most run on a request's path). */
export interface BudgetEvents {
  reserved?(context: BudgetContext, outcome: ReserveOutcome, durationMs: number, reservation: Reservation | undefined): void;
  ended?(context: BudgetContext, durationMs: number, call: SettledCall | undefined, held: boolean): void;
  /** A refusal answered (or passed to `next`), once per refusal; `feature` when the request had a budget context. */
  refused?(refusal: BudgetRefusal, feature: string | undefined): void;
  /** Told to `onStoreError`: the store became unreachable, or a settlement could not be written. */
  storeError?(err: Error): void;
  /** Spend written after an outage: retried settlements, fallback counts handed back. */
  lateSpend?(report: SettleReport): void;
  alert?(alert: SpendAlert): void;
}

/** The budget's observers, fanned out; a throwing observer is ignored (it must not fail a request). */
export class Observers implements CallObserver {
  active = false;
  private readonly list: BudgetEvents[] = [];
  private readonly refusalsTold = new WeakSet<BudgetRefusal>();

  add(events: BudgetEvents): void {
    this.list.push(events);
    this.active = true;
  }

  private tell(each: (events: BudgetEvents) => void): void {
    for (const events of this.list) {
      try {
        each(events);
      } catch {
        // Metrics are never worth a failed request.
      }
    }
  }

  reserved(context: BudgetContext, outcome: ReserveOutcome, durationMs: number, reservation: Reservation | undefined): void {
    this.tell((events) => events.reserved?.(context, outcome, durationMs, reservation));
  }

  ended(context: BudgetContext, durationMs: number, call: SettledCall | undefined, held: boolean): void {
    this.tell((events) => events.ended?.(context, durationMs, call, held));
  }

  refused(refusal: BudgetRefusal, feature: string | undefined): void {
    // A refusal passed to next() by one middleware may be answered by errorHandler: one refusal, counted once.
    if (!this.active || this.refusalsTold.has(refusal)) return;
    this.refusalsTold.add(refusal);
    this.tell((events) => events.refused?.(refusal, feature));
  }

  storeError(err: Error): void {
    if (this.active) this.tell((events) => events.storeError?.(err));
  }

  lateSpend(report: SettleReport): void {
    if (this.active) this.tell((events) => events.lateSpend?.(report));
  }

  alert(alert: SpendAlert): void {
    if (this.active) this.tell((events) => events.alert?.(alert));
  }
}
