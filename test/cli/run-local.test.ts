// The token-budget command in this process (runCli with its own out/err/env): help, mistakes, exit codes, connection failures, plan.
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../../lib/cli/run';
import { packageVersion } from '../../lib/cli/version';
import { defaultLoad, type ClientName, type Load } from '../../lib/cli/redis-client';
import { unusedPort } from '../helpers/ports';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

/** Runs `token-budget ...args` in this process; no client package loads unless `load` finds one. */
async function cli(args: string[], options: { env?: Record<string, string>; load?: Load } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: options.env ?? {},
    load: options.load ?? notInstalled,
  });
  return { code, out, err };
}

const notInstalled: Load = (name) => {
  throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
};

/** Only `installed` loads, as a fake module whose connection fails with `reason`. */
function onlyInstalled(installed: 'redis' | 'ioredis', reason: string): Load {
  const failing = { connect: () => Promise.reject(new Error(reason)), on: () => {}, destroy: () => {}, disconnect: () => {} };
  return (name) => {
    if (name !== installed) return notInstalled(name);
    if (name === 'redis') return { createClient: () => failing };
    return {
      default: class {
        constructor() {
          return failing;
        }
      },
    };
  };
}

describe('--version', () => {
  it("prints the package's version from its package.json, exit 0", async () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, out: [version], err: [] });
  });

  it('is unknown where no package.json above is token-budget’s', () => {
    expect(packageVersion(tmpdir())).toBeUndefined();
  });
});

describe('help', () => {
  it.each([[['--help']], [['-h']]])('%j prints the commands and the exit statuses, exit 0', async (args) => {
    const run = await cli(args);
    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
    expect(run.out).toHaveLength(1);
    const [help] = run.out;
    expect(help).toMatch(/^Usage: token-budget <command> \[arguments\] \[options\]\n/);
    expect(help).toContain('  flags list|get|set NAME on|off   kill switches of budget.featureFlag()');
    expect(help).toContain(
      '  plan FILE [--users T=N,…]        the most a budget file lets be spent per minute, hour, day, 30 days',
    );
    expect(help).toContain('  --redis URL        Redis to read and write (default: $REDIS_URL)');
    expect(help).toMatch(/3 plan: the worst case is over --max-daily-usd or --max-monthly-usd\.$/);
  });

  it.each([
    ['flags', /^Usage: token-budget flags list\n {7}token-budget flags get NAME\n {7}token-budget flags set NAME on\|off\n/],
    ['usage', /^Usage: token-budget usage user ID \[options\]\n {7}token-budget usage quota NAME ID \[options\]\n/],
    ['spend', /^Usage: token-budget spend \[--feature F\] \[--meter NAME\] \[--time-zone Z\]\n/],
    ['plan', /^Usage: token-budget plan FILE \[options\]\n {7}token-budget plan --diff OLD NEW \[options\]\n/],
  ])('%s --help prints its usage, exit 0, even with a wrong line', async (command, usage) => {
    for (const args of [
      [command, '--help'],
      [command, 'nonsense', 'words', '-h'],
    ]) {
      const run = await cli(args);
      expect(run).toMatchObject({ code: 0, err: [] });
      expect(run.out).toHaveLength(1);
      expect(run.out[0]).toMatch(usage);
      if (command !== 'plan')
        expect(run.out[0]).toMatch(/\n {2}-h, --help {9}this help\n {2}--version {10}the package's version$/);
    }
  });

  it('usage and spend --help list their own options', async () => {
    const usage = (await cli(['usage', '--help'])).out[0];
    expect(usage).toContain('  --limits T=N,...   the quota');
    expect(usage).toContain('  --time-zone Z      the quota');
    const spend = (await cli(['spend', '--help'])).out[0];
    expect(spend).toContain('  --meter NAME       the costMeter');
    const plan = (await cli(['plan', '--help'])).out[0];
    expect(plan).toContain(
      '2 bad arguments, 3 the worst case is over --max-daily-usd or --max-monthly-usd\n(an unbounded one always is).',
    );
  });
});

describe('mistakes: exit 2, the message and where to find the usage, nothing on stdout', () => {
  it.each([
    [[], 'A command is missing.', ''],
    [['--json'], 'A command is missing.', ''],
    [['--help', 'flags'], 'A command is missing.', ''],
    [['bogus'], 'Unknown command "bogus".', ''],
    // Names every object has: not commands.
    [['toString'], 'Unknown command "toString".', ''],
    [['constructor'], 'Unknown command "constructor".', ''],
    [['__proto__'], 'Unknown command "__proto__".', ''],
    [
      ['bogus', '--bogus'],
      "Unknown option '--bogus'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--bogus\"",
      '',
    ],
    [['flags'], 'flags needs list, get or set; usage: token-budget flags list | get NAME | set NAME on|off.', 'flags '],
    [['flags', 'drop'], 'Unknown flags action "drop"; usage: token-budget flags list | get NAME | set NAME on|off.', 'flags '],
    [['flags', 'list', 'chat'], 'Unexpected "chat"; usage: token-budget flags list | get NAME | set NAME on|off.', 'flags '],
    [
      ['flags', 'list', 'chat', 'on'],
      'Unexpected "chat"; usage: token-budget flags list | get NAME | set NAME on|off.',
      'flags ',
    ],
    [['flags', 'get'], 'The flag name is missing.', 'flags '],
    [['flags', 'get', 'chat', 'on'], 'Unexpected "on"; usage: token-budget flags list | get NAME | set NAME on|off.', 'flags '],
    [
      ['flags', 'get', 'chat', 'on', 'now'],
      'Unexpected "on"; usage: token-budget flags list | get NAME | set NAME on|off.',
      'flags ',
    ],
    [['flags', 'set', 'chat'], 'flags set chat needs on or off; got nothing.', 'flags '],
    [['flags', 'set', 'chat', 'maybe'], 'flags set chat needs on or off; got "maybe".', 'flags '],
    [
      ['flags', 'set', 'chat', 'on', 'now'],
      'Unexpected "now"; usage: token-budget flags list | get NAME | set NAME on|off.',
      'flags ',
    ],
    [
      ['usage'],
      'usage needs user or quota; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].',
      'usage ',
    ],
    [
      ['usage', 'team'],
      'Unknown usage kind "team"; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].',
      'usage ',
    ],
    [
      ['usage', 'user'],
      "usage user needs the user's id; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].",
      'usage ',
    ],
    [
      ['usage', 'user', ''],
      "usage user needs the user's id; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].",
      'usage ',
    ],
    [
      ['usage', 'user', 'alice', 'bob'],
      'Unexpected "bob"; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].',
      'usage ',
    ],
    [['usage', 'quota'], 'The quota name is missing.', 'usage '],
    [
      ['usage', 'quota', 'team'],
      "usage quota team needs the principal's id; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].",
      'usage ',
    ],
    [
      ['usage', 'quota', 'team', ''],
      "usage quota team needs the principal's id; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].",
      'usage ',
    ],
    [
      ['usage', 'quota', 'team', 'acme', 'x'],
      'Unexpected "x"; usage: token-budget usage user ID | usage quota NAME ID [--tier T --limits T=N,… | --limit N] [--period P] [--time-zone Z].',
      'usage ',
    ],
    [['usage', 'user', 'alice', '--period', 'year'], '--period must be one of hour, day, week, month; got "year".', 'usage '],
    [
      ['usage', 'user', 'alice', '--time-zone', 'Mars/Olympus'],
      '--time-zone must be an IANA time zone such as Europe/Paris; got "Mars/Olympus".',
      'usage ',
    ],
    [['usage', 'user', 'alice', '--limit', '5', '--limits', 'free=5'], 'Give --limit or --limits, not both.', 'usage '],
    [
      ['usage', 'user', 'alice', '--limit', '5', '--tier', 'pro'],
      '--tier picks a limit of --limits; with --limit there is only one.',
      'usage ',
    ],
    [['usage', 'user', 'alice', '--limit', '0'], '--limit must be a positive whole number; got "0".', 'usage '],
    [
      ['usage', 'user', 'alice', '--tier', 'pro'],
      "--tier needs --limits (the app's limits per tier), e.g. --limits free=10000,pro=100000.",
      'usage ',
    ],
    [
      ['usage', 'user', 'alice', '--limits', 'free'],
      '--limits pro must be a positive whole number; got "".'.replace('pro', 'free'),
      'usage ',
    ],
    [['usage', 'user', 'alice', '--limits', '=5'], '--limits must read tier=tokens,tier=tokens; got "=5".', 'usage '],
    [['usage', 'user', 'alice', '--limits', 'free=5=6'], '--limits must read tier=tokens,tier=tokens; got "free=5=6".', 'usage '],
    [
      ['usage', 'user', 'alice', '--limits', 'a:b=5'],
      `A tier in --limits must be 1–64 characters of letters, digits, '_', '.' or '-'; got "a:b".`,
      'usage ',
    ],
    [['usage', 'user', 'alice', '--limits', 'free=10,pro=x'], '--limits pro must be a positive whole number; got "x".', 'usage '],
    [['usage', 'user', 'alice', '--limits', 'free=10', '--tier', 'pro'], '--tier pro is not in --limits (free).', 'usage '],
    [
      ['usage', 'user', 'alice', '--limits', 'free=10,team=5', '--tier', 'pro'],
      '--tier pro is not in --limits (free, team).',
      'usage ',
    ],
    [['spend', 'now'], 'Unexpected "now"; usage: token-budget spend [--feature F] [--meter NAME] [--time-zone Z].', 'spend '],
    [
      ['spend', '--feature', 'a b'],
      `--feature must be 1–64 characters of letters, digits, '_', '.' or '-'; got "a b".`,
      'spend ',
    ],
    [['spend', '--meter', ''], `--meter must be 1–64 characters of letters, digits, '_', '.' or '-'; got "".`, 'spend '],
    [
      ['spend', '--time-zone', 'Mars/Olympus'],
      '--time-zone must be an IANA time zone such as Europe/Paris; got "Mars/Olympus".',
      'spend ',
    ],
    [['flags', 'list'], 'No Redis given: pass --redis redis://host:port or set REDIS_URL.', 'flags '],
    [['flags', 'list', '--redis', 'nonsense'], '--redis must be a URL such as redis://127.0.0.1:6379; got "nonsense".', 'flags '],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', 'soon'],
      '--timeout must be a positive whole number; got "soon".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', '0'],
      '--timeout must be a positive whole number; got "0".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', '1.5'],
      '--timeout must be a positive whole number; got "1.5".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', '12 '],
      '--timeout must be a positive whole number; got "12 ".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', ' 12'],
      '--timeout must be a positive whole number; got " 12".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', '99999999999999999999'],
      '--timeout must be a positive whole number; got "99999999999999999999".',
      'flags ',
    ],
    [
      ['flags', 'list', '--redis', 'redis://127.0.0.1:1', '--client', 'valkey'],
      '--client must be redis or ioredis; got "valkey".',
      'flags ',
    ],
  ])('%j', async (args, message, command) => {
    const run = await cli(args);
    expect(run.out).toEqual([]);
    expect(run.err).toEqual([`token-budget: ${message}\nRun token-budget ${command}--help for usage.`]);
    expect(run.code).toBe(2);
  });

  it('REDIS_URL is the Redis when --redis is not given, and --redis wins over it', async () => {
    const fromEnv = await cli(['flags', 'list'], { env: { REDIS_URL: 'from-env' } });
    expect(fromEnv.err[0]).toMatch(
      /^token-budget: --redis must be a URL such as redis:\/\/127\.0\.0\.1:6379; got "from-env"\.\n/,
    );
    const given = await cli(['flags', 'list', '--redis', 'from-line'], { env: { REDIS_URL: 'from-env' } });
    expect(given.err[0]).toMatch(/got "from-line"\./);
  });
});

describe('a Redis that cannot be used: exit 1, one line on stderr', () => {
  it('no client package installed says which to install', async () => {
    const either = await cli(['usage', 'user', 'alice', '--redis', 'redis://127.0.0.1:1']);
    expect(either).toEqual({
      code: 1,
      out: [],
      err: ['token-budget: a Redis client is needed to talk to Redis: install "redis" or "ioredis" (e.g. npm install redis).'],
    });
    const named = await cli(['spend', '--redis', 'redis://127.0.0.1:1', '--client', 'ioredis']);
    expect(named.err).toEqual([
      'token-budget: a Redis client is needed to talk to Redis: install "ioredis" (e.g. npm install ioredis).',
    ]);
    expect(named.code).toBe(1);
  });

  it('nothing listening: the URL without its password and the deadline (3000 ms unless --timeout)', async () => {
    const port = await unusedPort();
    const url = `redis://:hunter2@127.0.0.1:${port}`;
    // The reason is the refusal itself: a client left to reconnect would wait out the deadline and say only that.
    for (const [client, extra, ms, reason] of [
      ['redis', [], 3000, `connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`],
      ['ioredis', ['--timeout', '1234'], 1234, 'Connection is closed\\.'],
    ] as const) {
      const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
      const timersBefore = timers();
      const run = await cli(['flags', 'list', '--redis', url, '--client', client, ...extra], { load: defaultLoad });
      // Nothing of the failed connection is left waiting (ioredis's disconnect timer kept a process alive 2 s).
      expect(timers()).toBeLessThanOrEqual(timersBefore);
      expect(run.code).toBe(1);
      expect(run.out).toEqual([]);
      expect(run.err).toHaveLength(1);
      expect(run.err[0]).toMatch(
        new RegExp(
          `^token-budget: Cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} within ${ms} ms \\(${reason}\\)\\.$`,
        ),
      );
      expect(run.err[0]).not.toMatch(/hunter2|TB_/);
    }
  });

  it('without a password the URL is printed as given; ioredis is tried when redis is not installed', async () => {
    const viaIoredis = await cli(['flags', 'list', '--redis', 'redis://127.0.0.1:7'], {
      load: onlyInstalled('ioredis', 'refused'),
    });
    expect(viaIoredis).toEqual({
      code: 1,
      out: [],
      err: ['token-budget: Cannot reach Redis at redis://127.0.0.1:7 within 3000 ms (refused).'],
    });
    const viaRedis = await cli(['flags', 'list', '--redis', 'redis://u@127.0.0.1:7', '--timeout', '50'], {
      load: onlyInstalled('redis', 'no route [TB_STORE_UNAVAILABLE]'),
    });
    expect(viaRedis.err).toEqual(['token-budget: Cannot reach Redis at redis://u@127.0.0.1:7 within 50 ms (no route).']);
  });

  it('a client package that fails to load for another reason is an unexpected error, exit 1', async () => {
    const broken = await cli(['flags', 'list', '--redis', 'redis://127.0.0.1:7'], {
      load: () => {
        throw new Error('syntax error in redis');
      },
    });
    expect(broken.code).toBe(1);
    expect(broken.err).toHaveLength(1);
    expect(broken.err[0]).toMatch(/^token-budget: unexpected error: Error: syntax error in redis\n {4}at /);
    const thrownText = await cli(['flags', 'list', '--redis', 'redis://127.0.0.1:7'], {
      load: () => {
        throw 'not an error';
      },
    });
    expect(thrownText).toEqual({ code: 1, out: [], err: ['token-budget: unexpected error: not an error'] });
  });

  it("a socket error the client also emits as an event is heard: the reason printed is the connection's", async () => {
    // node-redis and ioredis emit each socket error on the client too; an 'error' event nobody listens to throws.
    const emitting: Load = (name) => {
      if (name !== 'redis') return notInstalled(name);
      const client = new EventEmitter();
      const connect = () => {
        client.emit('error', new Error('socket closed'));
        return Promise.reject(new Error('refused'));
      };
      return { createClient: () => Object.assign(client, { connect, destroy: () => {} }) };
    };
    expect(await cli(['flags', 'list', '--redis', 'redis://127.0.0.1:7'], { load: emitting })).toEqual({
      code: 1,
      out: [],
      err: ['token-budget: Cannot reach Redis at redis://127.0.0.1:7 within 3000 ms (refused).'],
    });
  });
});

describe('the client package a global or npx install finds', () => {
  let app: string;
  let cwd: string;
  beforeEach(() => {
    cwd = process.cwd();
    app = mkdtempSync(path.join(tmpdir(), 'tb-app-'));
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(app, { recursive: true, force: true });
  });

  it("is the one in the working directory's node_modules when none is beside the CLI", () => {
    // A package name that nothing beside the CLI has stands for a client installed in the app only.
    const onlyInApp = 'tb-client-in-app' as ClientName;
    mkdirSync(path.join(app, 'node_modules', onlyInApp), { recursive: true });
    writeFileSync(path.join(app, 'node_modules', onlyInApp, 'index.js'), "module.exports = { from: 'the app' };");
    process.chdir(app);
    expect(defaultLoad(onlyInApp)).toEqual({ from: 'the app' });
    expect(() => defaultLoad('tb-client-nowhere' as ClientName)).toThrow(
      expect.objectContaining({ code: 'MODULE_NOT_FOUND' }) as Error,
    );
  });
});

describe('plan, in this process', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tb-plan-local-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const fileWith = (name: string, content: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(content));
    return file;
  };
  const PRICES = { 'gpt-4o': { input: 5, output: 20 }, 'gpt-4o-mini': { input: 0.15, output: 0.5 } };
  const BUDGETS = {
    prices: PRICES,
    features: {
      chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', dailyTokens: 1_000_000 },
      quick: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' },
    },
    quotas: { user: { limits: { free: 10_000, pro: 100_000 } }, team: { limits: 50_000 } },
    globalTpm: { limit: 100_000 },
    costMeter: { dailyCapUsd: 500 },
  };

  it('prints each feature and the total with the binding limit and the counted principals', async () => {
    const file = fileWith('budgets.json', BUDGETS);
    const run = await cli(['plan', file, '--users', 'free=100,pro=10', '--principals', 'team:default=100']);
    expect(run).toMatchObject({ code: 0, err: [] });
    expect(run.out).toEqual([
      [
        `Worst case of ${file}.`,
        "Every token is priced at its model's output price, and every limit of the file is taken as mounted on every feature's route.",
        'Principals: user free=100 pro=10; team default=100.',
        '',
        'chat (gpt-4o, $20.00 per 1M output tokens)',
        '  per minute   $2.00    100,000 tokens     globalTpm.limit',
        '  per hour     $20.00   1,000,000 tokens   features.chat.dailyTokens',
        '  per day      $20.00   1,000,000 tokens   features.chat.dailyTokens',
        '  per 30 days  $600.00  30,000,000 tokens  features.chat.dailyTokens',
        'quick (gpt-4o-mini, $0.50 per 1M output tokens)',
        '  per minute   $0.05    100,000 tokens     globalTpm.limit',
        '  per hour     $1.00    2,000,000 tokens   quotas.user.limits × 110 principals',
        '  per day      $1.00    2,000,000 tokens   quotas.user.limits × 110 principals',
        '  per 30 days  $30.00   60,000,000 tokens  quotas.user.limits × 110 principals',
        'total',
        '  per minute   $2.00    100,000 tokens     globalTpm.limit',
        '  per hour     $20.50   2,000,000 tokens   quotas.user.limits × 110 principals',
        '  per day      $20.50   2,000,000 tokens   quotas.user.limits × 110 principals',
        '  per 30 days  $615.00  60,000,000 tokens  quotas.user.limits × 110 principals',
      ].join('\n'),
    ]);
  });

  it('a bare count is every principal at the largest tier; without counts no quota bounds the total; cents below one stay visible', async () => {
    const file = fileWith('small.json', { ...BUDGETS, globalTpm: { limit: 10_000 } });
    const bare = await cli(['plan', file, '--users', '1500', '--principals', 'team:3']);
    expect(bare.out[0]).toContain('Principals: user 1,500 at the largest tier; team 3 at the largest tier.');
    expect(bare.out[0]).toContain('\n  per minute   $0.005 ');
    const none = await cli(['plan', file]);
    expect(none.out[0]).toContain('\nPrincipals: none counted (give --users or --principals to let quotas bound the total).\n');
    const json = await cli(['plan', file, '--json', '--users', 'pro=1,free=2']);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.out[0]!);
    expect(plan).toMatchObject({ file, principals: { user: { pro: 1, free: 2 } }, limits: [] });
    expect(plan.total.minute).toEqual({ usd: 0.2, tokens: 10_000, binding: 'globalTpm.limit' });
    expect(json.out[0]).toMatch(/^\{\n {2}"file": /);
  });

  it('--max-daily-usd and --max-monthly-usd: the findings under the table, exit 3 with the first broken one on stderr', async () => {
    const file = fileWith('gated.json', BUDGETS);
    const users = ['--users', 'free=100,pro=10'];
    const over = await cli(['plan', file, ...users, '--max-daily-usd', '20', '--max-monthly-usd', '1000']);
    expect(over.code).toBe(3);
    expect(over.err).toEqual(['token-budget: the worst case per day is $20.50, more than --max-daily-usd $20.00.']);
    expect(over.out[0]).toMatch(
      /\n {2}per 30 days {2}\$615\.00 .*\n\n--max-daily-usd \$20\.00: the worst day is \$20\.50, OVER the limit\.\n--max-monthly-usd \$1,000\.00: the worst 30 days is \$615\.00, within it\.$/,
    );
    const monthly = await cli(['plan', file, ...users, '--max-daily-usd', '20.5', '--max-monthly-usd', '614.99']);
    expect(monthly.code).toBe(3);
    expect(monthly.err).toEqual(['token-budget: the worst case per 30 days is $615.00, more than --max-monthly-usd $614.99.']);
    const within = await cli(['plan', file, ...users, '--max-daily-usd', '20.5', '--max-monthly-usd', '615', '--json']);
    expect(within).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(within.out[0]!).limits).toEqual([
      { option: 'max-daily-usd', window: 'day', limitUsd: 20.5, worstUsd: 20.5, exceeded: false },
      { option: 'max-monthly-usd', window: '30 days', limitUsd: 615, worstUsd: 615, exceeded: false },
    ]);
    const zero = await cli(['plan', file, ...users, '--max-daily-usd', '0']);
    expect(zero.err).toEqual(['token-budget: the worst case per day is $20.50, more than --max-daily-usd $0.00.']);
    // An amount of a cent or more is printed in cents.
    const fine = await cli(['plan', file, ...users, '--max-daily-usd', '12.3456']);
    expect(fine.err).toEqual(['token-budget: the worst case per day is $20.50, more than --max-daily-usd $12.35.']);
  });

  it('an unbounded file says so, and always fails a spend gate', async () => {
    const file = fileWith('open.json', { features: { chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o' } } });
    const run = await cli(['plan', file, '--max-daily-usd', '1000000']);
    expect(run.code).toBe(3);
    // No tokens and no binding limit to show: the row ends at "unbounded".
    expect(run.out[0]).toContain(
      '\ntotal\n  per minute   unbounded\n  per hour     unbounded\n  per day      unbounded\n  per 30 days  unbounded\n',
    );
    expect(run.out[0]).toMatch(
      /\n\nfeatures\.chat is unbounded: nothing limits what it can spend\. .*\n\n--max-daily-usd \$1,000,000\.00: the worst day is unbounded, OVER the limit\.$/,
    );
    expect(run.err).toEqual(['token-budget: the worst case per day is unbounded, more than --max-daily-usd $1,000,000.00.']);
  });

  it('--diff: each bound before → after, the change, the binding limit, added features; the limits apply to the new file', async () => {
    const before = fileWith('old.json', BUDGETS);
    const after = fileWith('new.json', {
      ...BUDGETS,
      features: { ...BUDGETS.features, draft: { maxInput: 100, maxOutput: 100, model: 'gpt-4o' } },
      globalTpm: { limit: 10_000 },
      costMeter: { dailyCapUsd: 5 },
    });
    const users = ['--users', 'free=100,pro=10'];
    const run = await cli(['plan', '--diff', before, after, ...users, '--max-daily-usd', '10']);
    expect(run).toMatchObject({ code: 0, err: [] });
    const text = run.out[0]!;
    expect(text).toMatch(
      new RegExp(`^Worst case, ${before.replace(/[.\\]/g, '\\$&')} → ${after.replace(/[.\\]/g, '\\$&')}\\.\n`),
    );
    expect(text).toContain('\nPrincipals: user free=100 pro=10.\n\nchat\n');
    expect(text).toContain('\ndraft (added)\n  per minute   — → $0.20                      — → globalTpm.limit\n');
    expect(text).toMatch(/\ntotal\n {2}per minute {3}\$2\.00 → \$0\.20 /);
    expect(text).toMatch(/^ {2}per minute {3}\$2\.00 → \$0\.20 +\(−\$1\.80\) +globalTpm\.limit$/m);
    expect(text).toMatch(
      /^ {2}per day +\$20\.50 → \$5\.00 +\(−\$15\.50\) +quotas\.user\.limits × 110 principals → costMeter\.dailyCapUsd$/m,
    );
    expect(text).toMatch(/ costMeter\.dailyCapUsd\n\n--max-daily-usd \$10\.00: the worst day is \$5\.00, within it\.$/);
    const back = await cli(['plan', '--diff', after, before, ...users, '--max-daily-usd', '10']);
    expect(back.code).toBe(3);
    expect(back.out[0]).toContain('\ndraft (removed)\n  per minute   $0.20 → —');
    expect(back.out[0]).toMatch(/^ {2}per minute {3}\$0\.20 → \$2\.00 +\(\+\$1\.80\) +globalTpm\.limit$/m);
    expect(back.out[0]).toMatch(
      /^ {2}per day +\$5\.00 → \$20\.50 +\(\+\$15\.50\) +costMeter\.dailyCapUsd → quotas\.user\.limits × 110 principals$/m,
    );
    expect(back.err).toEqual(['token-budget: the worst case per day is $20.50, more than --max-daily-usd $10.00.']);
    const same = await cli(['plan', '--diff', before, before]);
    expect(same.out[0]).toMatch(/^ {2}per minute {3}\$2\.00 → \$2\.00 +globalTpm\.limit$/m);
    // Nothing unbounded and no limit given: the table is the last thing printed.
    expect(same.out[0]).toMatch(/\ntotal\n(.*\n){3} {2}per 30 days {2}\$2,745\.00 → \$2,745\.00 +globalTpm\.limit$/);
    const json = JSON.parse((await cli(['plan', '--diff', before, after, ...users, '--json'])).out[0]!);
    expect(json).toMatchObject({ before, after, principals: { user: { free: 100, pro: 10 } }, limits: [] });
    expect(json.total.day).toMatchObject({ changeUsd: -15.5, before: { usd: 20.5 }, after: { usd: 5 } });
  });

  it('--principals counts several tiers of one quota, the user quota too, as --users does', async () => {
    const file = fileWith('tiers.json', BUDGETS);
    const byPrincipals = await cli(['plan', file, '--principals', 'user:free=100,team:default=3,user:pro=10']);
    expect(byPrincipals).toMatchObject({ code: 0, err: [] });
    expect(byPrincipals.out[0]).toContain('\nPrincipals: user free=100 pro=10; team default=3.\n');
    const byUsers = await cli(['plan', file, '--users', 'free=100,pro=10', '--principals', 'team:default=3']);
    expect(byPrincipals.out).toEqual(byUsers.out);
  });

  it('--diff counts the principals of a quota only one of the files has, against that file’s tiers', async () => {
    const before = fileWith('with-team.json', BUDGETS);
    const after = fileWith('without-team.json', { ...BUDGETS, quotas: { user: BUDGETS.quotas.user } });
    const counted = await cli(['plan', '--diff', before, after, '--principals', 'team:default=5']);
    expect(counted).toMatchObject({ code: 0, err: [] });
    expect(counted.out[0]).toContain('\nPrincipals: team default=5.\n');
    expect(counted.out[0]).toMatch(
      /^ {2}per day +\$5\.00 → \$91\.50 +\(\+\$86\.50\) +quotas\.team\.limits × 5 principals → globalTpm\.limit$/m,
    );
    expect(await cli(['plan', '--diff', after, before, '--principals', 'team:gold=1'])).toEqual({
      code: 2,
      out: [],
      err: [
        'token-budget: --principals: quota team has no tier "gold" (it has default).\nRun token-budget plan --help for usage.',
      ],
    });
  });

  it('--diff of an unbounded new file lists what is unbounded', async () => {
    const before = fileWith('bounded.json', BUDGETS);
    const after = fileWith('unbounded.json', { features: { chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o' } } });
    const run = await cli(['plan', '--diff', before, after]);
    expect(run.out[0]).toMatch(/\n\nfeatures\.chat is unbounded: nothing limits what it can spend\./);
    expect(run.out[0]).toContain('\n  per day      $91.50 → unbounded       globalTpm.limit → —\n');
    expect(run.out[0]).toContain('\nquick (removed)\n');
  });

  it('a budget file that cannot be used: exit 1 naming the file and the field', async () => {
    const bad = fileWith('bad.json', {
      features: { chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', dailyTokens: -5 } },
    });
    expect(await cli(['plan', bad])).toEqual({
      code: 1,
      out: [],
      err: [`token-budget: ${bad}: features.chat.dailyTokens must be a positive integer; got -5.`],
    });
    const missing = await cli(['plan', '--diff', bad.replace('bad', 'none'), bad]);
    expect(missing.code).toBe(1);
    expect(missing.err).toHaveLength(1);
    expect(missing.err[0]).toMatch(/^token-budget: Cannot read the budget file .*none\.json: .*\.$/);
  });

  it.each([
    [
      ['plan'],
      'plan needs a budget file; usage: token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N].',
    ],
    [
      ['plan', 'a.json', 'b.json'],
      'Unexpected "b.json"; usage: token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N].',
    ],
    [
      ['plan', '--diff', 'a.json'],
      'plan --diff needs two files; usage: token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N].',
    ],
    [
      ['plan', '--diff'],
      'plan --diff needs two files; usage: token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N].',
    ],
    [
      ['plan', '--diff', 'a.json', 'b.json', 'c.json'],
      'Unexpected "c.json"; usage: token-budget plan FILE | plan --diff OLD NEW [--users T=N,…] [--principals Q:T=N,…] [--max-daily-usd N].',
    ],
  ])('%j exits 2', async (args, message) => {
    expect(await cli(args)).toEqual({
      code: 2,
      out: [],
      err: [`token-budget: ${message}\nRun token-budget plan --help for usage.`],
    });
  });

  it('wrong counts and limits exit 2 with what is wrong', async () => {
    const file = fileWith('counts.json', BUDGETS);
    const noQuotas = fileWith('no-quotas.json', { ...BUDGETS, quotas: {} });
    for (const [args, message] of [
      [[file, '--users', 'gold=5'], '--users: quota user has no tier "gold" (it has free, pro).'],
      [[file, '--users', 'free'], '--users must read tier=count,tier=count; got "free".'],
      // Digits first are not a bare count.
      [[file, '--users', '5x'], '--users must read tier=count,tier=count; got "5x".'],
      [[file, '--users', '=5'], '--users must read tier=count,tier=count; got "=5".'],
      [[file, '--users', 'free=5=6'], '--users must read tier=count,tier=count; got "free=5=6".'],
      [[file, '--users', 'free=0'], '--users free must be a positive whole number; got "0".'],
      [[file, '--users', '0'], '--users must be a positive whole number; got "0".'],
      [[noQuotas, '--users', '5'], '--users counts principals of quota user, which the budget file does not define.'],
      [[file, '--principals', 'org:5'], '--principals counts principals of quota org, which the budget file does not define.'],
      [[file, '--principals', 'team'], '--principals must read quota:tier=count,…; got "team".'],
      [[file, '--principals', 'team:gold=1:2'], '--principals must read quota:tier=count,…; got "team:gold=1:2".'],
      [[file, '--principals', 'team:gold=1'], '--principals: quota team has no tier "gold" (it has default).'],
      [
        [file, '--principals', 'a b:1'],
        `A quota in --principals must be 1–64 characters of letters, digits, '_', '.' or '-'; got "a b".`,
      ],
      [[file, '--max-daily-usd', 'lots'], '--max-daily-usd must be an amount of USD such as 500 or 12.50; got "lots".'],
      [[file, '--max-daily-usd', ' '], '--max-daily-usd must be an amount of USD such as 500 or 12.50; got " ".'],
      [[file, '--max-daily-usd=-1'], '--max-daily-usd must be an amount of USD such as 500 or 12.50; got "-1".'],
      [
        [file, '--max-monthly-usd', 'Infinity'],
        '--max-monthly-usd must be an amount of USD such as 500 or 12.50; got "Infinity".',
      ],
    ] as const) {
      expect(await cli(['plan', ...args])).toEqual({
        code: 2,
        out: [],
        err: [`token-budget: ${message}\nRun token-budget plan --help for usage.`],
      });
    }
  });
});
