// warnOncePerCode: each code reported once, to onWarning or else console.warn, and a throwing sink ignored.
import type { BudgetWarning } from '../../lib';
import { warnOncePerCode } from '../../lib/warnings';

test('without onWarning, console.warn gets the message and the code, once per code', () => {
  const consoleWarn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const warn = warnOncePerCode();
    warn('TB_NOT_RESERVED', 'The call was not reserved.');
    warn('TB_NOT_RESERVED', 'Said again.');
    warn('TB_UNLISTED_SNAPSHOT', 'An unlisted snapshot.');
    expect(consoleWarn.mock.calls).toEqual([
      ['token-budget: The call was not reserved. [TB_NOT_RESERVED]'],
      ['token-budget: An unlisted snapshot. [TB_UNLISTED_SNAPSHOT]'],
    ]);
  } finally {
    consoleWarn.mockRestore();
  }
});

test('onWarning gets { code, message } once per code; a throwing onWarning fails nothing', () => {
  const heard: BudgetWarning[] = [];
  const warn = warnOncePerCode((warning) => {
    heard.push(warning);
    throw new Error('a faulty sink');
  });
  expect(() => warn('TB_NOT_RESERVED', 'first')).not.toThrow();
  warn('TB_NOT_RESERVED', 'second');
  warn('TB_UNLISTED_SNAPSHOT', 'third');
  expect(heard).toEqual([
    { code: 'TB_NOT_RESERVED', message: 'first' },
    { code: 'TB_UNLISTED_SNAPSHOT', message: 'third' },
  ]);
});
