// Observers: inactive until one is added, every event fanned out to each, a refusal told once, a throwing observer ignored.
import type { BudgetContext, SettledCall } from '../../lib/context';
import { Observers, type BudgetEvents } from '../../lib/observers';
import { BudgetRefusal } from '../../lib/refusal';
import type { SettleReport } from '../../lib/store/types';
import type { SpendAlert } from '../../lib/types';

/** An observer that notes each event it hears, by name and arguments. */
function recorder(heard: unknown[][]): Required<BudgetEvents> {
  return {
    reserved: (...args) => void heard.push(['reserved', ...args]),
    ended: (...args) => void heard.push(['ended', ...args]),
    refused: (...args) => void heard.push(['refused', ...args]),
    storeError: (...args) => void heard.push(['storeError', ...args]),
    lateSpend: (...args) => void heard.push(['lateSpend', ...args]),
    alert: (...args) => void heard.push(['alert', ...args]),
  };
}

const context = { feature: 'chat' } as unknown as BudgetContext;
const call = { feature: 'chat' } as unknown as SettledCall;
const report: SettleReport = { spent: [] };
const alert = { kind: 'spike', window: 'hour' } as SpendAlert;

test('inactive until an observer is added', () => {
  const observers = new Observers();
  expect(observers.active).toBe(false);
  observers.add({});
  expect(observers.active).toBe(true);
});

test('each event reaches every observer, past one that throws and one that lacks the method', () => {
  const observers = new Observers();
  const heard: unknown[][] = [];
  const throwing = () => {
    throw new Error('a broken observer');
  };
  observers.add({
    reserved: throwing,
    ended: throwing,
    refused: throwing,
    storeError: throwing,
    lateSpend: throwing,
    alert: throwing,
  });
  observers.add({});
  observers.add(recorder(heard));
  const refusal = new BudgetRefusal('feature_disabled', 'Off.');
  const err = new Error('store down');

  observers.reserved(context, 'granted', 12, undefined);
  observers.ended(context, 34, call, true);
  observers.refused(refusal, 'chat');
  observers.storeError(err);
  observers.lateSpend(report);
  observers.alert(alert);

  expect(heard).toEqual([
    ['reserved', context, 'granted', 12, undefined],
    ['ended', context, 34, call, true],
    ['refused', refusal, 'chat'],
    ['storeError', err],
    ['lateSpend', report],
    ['alert', alert],
  ]);
});

test('a refusal is told once, however many times it is answered; another refusal is told too', () => {
  const observers = new Observers();
  const heard: unknown[][] = [];
  observers.add(recorder(heard));
  const first = new BudgetRefusal('feature_disabled', 'Off.');
  const second = new BudgetRefusal('feature_disabled', 'Off.');
  observers.refused(first, 'chat');
  observers.refused(first, undefined);
  observers.refused(second, undefined);
  expect(heard).toEqual([
    ['refused', first, 'chat'],
    ['refused', second, undefined],
  ]);
});
