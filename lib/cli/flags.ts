// `token-budget flags list|get|set`: the kill switches every app process follows, read and switched in Redis.
import { withinDeadline } from '../store/deadline';
import { COMMON_HELP } from './args';
import type { Command, Session } from './command';
import { UsageError } from './errors';
import { cliName, noMore } from './names';
import { fromStore } from './store';

const USAGE = 'token-budget flags list | get NAME | set NAME on|off';

export const flagsCommand: Command = {
  help: `Usage: token-budget flags list
       token-budget flags get NAME
       token-budget flags set NAME on|off

Kill switches of budget.featureFlag(NAME): a feature whose flag is off answers 503
feature_disabled in every app process within a second. A flag never set is the
featureFlag's default (on unless the app says otherwise).

  list               every flag that was set, on or off
  get NAME           one flag: on, off, or not set
  set NAME on|off    switch it in every process sharing this Redis

${COMMON_HELP}`,

  check({ positionals: [, action, name, state, ...rest] }) {
    if (action === 'list')
      return noMore(
        [name, state, ...rest].filter((word) => word !== undefined),
        USAGE,
      );
    if (action !== 'get' && action !== 'set') {
      throw new UsageError(
        action === undefined
          ? `flags needs list, get or set; usage: ${USAGE}.`
          : `Unknown flags action ${JSON.stringify(action)}; usage: ${USAGE}.`,
      );
    }
    cliName(name, 'The flag name');
    if (action === 'get')
      return noMore(
        [state, ...rest].filter((word) => word !== undefined),
        USAGE,
      );
    if (state !== 'on' && state !== 'off')
      throw new UsageError(`flags set ${name} needs on or off; got ${state === undefined ? 'nothing' : JSON.stringify(state)}.`);
    noMore(rest, USAGE);
  },

  async run({ positionals: [, action, name, state], store, timeoutMs }: Session) {
    const channel = store.flagChannel();
    if (action === 'set') {
      const on = state === 'on';
      await fromStore(withinDeadline(timeoutMs, channel.write({ name: name!, on }, timeoutMs)));
      return { text: `${name}: ${state} (announced to every process sharing this Redis)`, json: { name, on } };
    }
    const flags = await fromStore(withinDeadline(timeoutMs, channel.readAll()));
    if (action === 'get') {
      const on = flags.get(name!);
      const text = on === undefined ? `${name}: not set (featureFlag uses its default)` : `${name}: ${on ? 'on' : 'off'}`;
      return { text, json: { name, on: on ?? null } };
    }
    const sorted = [...flags].sort(([a], [b]) => (a < b ? -1 : 1));
    if (sorted.length === 0) return { text: 'No flag has been set: every featureFlag uses its default.', json: {} };
    const width = Math.max(...sorted.map(([flag]) => flag.length));
    return {
      text: sorted.map(([flag, on]) => `${flag.padEnd(width)}  ${on ? 'on' : 'off'}`).join('\n'),
      json: Object.fromEntries(sorted),
    };
  },
};
