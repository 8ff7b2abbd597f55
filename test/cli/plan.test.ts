// `token-budget plan`, run as a child process: the worst case of a budget file, the spend gates' exit codes, --json and --diff.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDocs } from '../helpers/docs';

const MAIN = require.resolve('../../lib/cli/main.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tb-plan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(name: string, content: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const PRICES = { 'gpt-4o': { input: 5, output: 20 }, 'gpt-4o-mini': { input: 0.15, output: 0.5 } };
/** chat: 1M tokens a day at $20/1M; quick: no limit of its own at $0.50/1M; users: 100 free × 10,000 + 10 pro × 100,000 a day. */
const BUDGETS = {
  prices: PRICES,
  features: {
    chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', dailyTokens: 1_000_000 },
    quick: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' },
  },
  quotas: { user: { limits: { free: 10_000, pro: 100_000 } } },
  globalTpm: { limit: 100_000 },
  costMeter: { dailyCapUsd: 500 },
};

test('prints each feature and the total per minute, hour, day and 30 days with the binding limit', async () => {
  const file = fileWith('budgets.json', BUDGETS);
  const run = await cli(['plan', file, '--users', 'free=100,pro=10']);
  expect(run.code).toBe(0);
  // Users: 2M tokens a day. chat: 1M ($20) a day; quick: the other 1M ($0.50). A minute: 100,000 tokens of chat ($2).
  expect(run.stdout).toBe(
    [
      `Worst case of ${file}.`,
      "Every token is priced at its model's output price, and every limit of the file is taken as mounted on every feature's route.",
      'Principals: user free=100 pro=10.',
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
      '',
    ].join('\n'),
  );
});

test('--max-daily-usd and --max-monthly-usd: exit 3 with the reason when the worst case is over, 0 when within', async () => {
  const file = fileWith('gated.json', BUDGETS);
  const over = await cli(['plan', file, '--users', 'free=100,pro=10', '--max-daily-usd', '20']);
  expect(over.code).toBe(3);
  expect(over.stderr).toBe('token-budget: the worst case per day is $20.50, more than --max-daily-usd $20.00.\n');
  expect(over.stdout).toContain('--max-daily-usd $20.00: the worst day is $20.50, OVER the limit.');
  const within = await cli(['plan', file, '--users', 'free=100,pro=10', '--max-daily-usd', '20.5', '--max-monthly-usd', '615']);
  expect(within).toMatchObject({ code: 0, stderr: '' });
  const monthly = await cli(['plan', file, '--users', 'free=100,pro=10', '--max-monthly-usd', '614.99']);
  expect(monthly.code).toBe(3);
  expect(monthly.stderr).toContain('the worst case per 30 days is $615.00');
});

test('without --users the quota bounds nothing: the TPM binds the total and quick alone', async () => {
  const file = fileWith('no-users.json', BUDGETS);
  const run = await cli(['plan', file, '--json']);
  expect(run.code).toBe(0);
  const plan = JSON.parse(run.stdout);
  // TPM: 144M tokens a day; chat 1M ($20) + quick 143M ($71.50) = $91.50, under the $500 cap. 30 days: $2,745 → the cap's $15,000 does not bind either.
  expect(plan.total.day).toEqual({ usd: 91.5, tokens: 144_000_000, binding: 'globalTpm.limit' });
  expect(plan.features[1].windows.day).toEqual({ usd: 72, tokens: 144_000_000, binding: 'globalTpm.limit' });
  expect(plan.principals).toEqual({});
});

test('an unbounded file says so in plain words, and always fails a spend gate', async () => {
  const file = fileWith('open.json', { features: { chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o' } } });
  const run = await cli(['plan', file, '--max-daily-usd', '1000000']);
  expect(run.code).toBe(3);
  expect(run.stdout).toContain('  per day      unbounded');
  expect(run.stdout).toContain(
    'features.chat is unbounded: nothing limits what it can spend. Bound it with features.chat.dailyTokens, globalTpm.limit or costMeter.dailyCapUsd',
  );
  expect(run.stderr).toBe('token-budget: the worst case per day is unbounded, more than --max-daily-usd $1,000,000.00.\n');
});

test('--diff shows how the change moves each bound and which limit binds, and gates the new file', async () => {
  const before = fileWith('old.json', BUDGETS);
  const after = fileWith('new.json', { ...BUDGETS, globalTpm: { limit: 10_000 }, costMeter: { dailyCapUsd: 5 } });
  const run = await cli(['plan', '--diff', before, after, '--users', 'free=100,pro=10', '--max-daily-usd', '10']);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`Worst case, ${before} → ${after}.`);
  // A minute: 10,000 tokens of chat ($0.20); a day: the $5 cap.
  expect(run.stdout).toMatch(/^ {2}per minute {3}\$2\.00 → \$0\.20 +\(−\$1\.80\) +globalTpm\.limit$/m);
  expect(run.stdout).toMatch(
    /^ {2}per day +\$20\.50 → \$5\.00 +\(−\$15\.50\) +quotas\.user\.limits × 110 principals → costMeter\.dailyCapUsd$/m,
  );
  const json = JSON.parse((await cli(['plan', '--diff', before, after, '--users', 'free=100,pro=10', '--json'])).stdout);
  expect(json.total.day).toMatchObject({ changeUsd: -15.5, before: { usd: 20.5 }, after: { usd: 5 } });
  expect(json.features.map((f: { status: string }) => f.status)).toEqual(['kept', 'kept']);
});

test('a bad budget file exits 1 naming the field; a bad line exits 2', async () => {
  const bad = fileWith('bad.json', { features: { chat: { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', dailyTokens: -5 } } });
  const invalid = await cli(['plan', bad]);
  expect(invalid).toMatchObject({ code: 1, stdout: '' });
  expect(invalid.stderr).toBe(`token-budget: ${bad}: features.chat.dailyTokens must be a positive integer; got -5.\n`);
  const file = fileWith('ok.json', BUDGETS);
  for (const [args, message] of [
    [['plan'], /plan needs a budget file/],
    [['plan', file, '--users', 'gold=5'], /--users: quota user has no tier "gold" \(it has free, pro\)/],
    [
      ['plan', file, '--principals', 'team:free=5'],
      /--principals counts principals of quota team, which the budget file does not define/,
    ],
    [['plan', file, '--max-daily-usd', 'lots'], /--max-daily-usd must be an amount of USD/],
    [['plan', '--diff', file], /plan --diff needs two files/],
  ] as const) {
    const run = await cli([...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  }
});

test('--help prints the command and its exit statuses', async () => {
  const run = await cli(['plan', '--help']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^Usage: token-budget plan FILE/);
  expect(run.stdout).toContain('3 the worst case is over --max-daily-usd or --max-monthly-usd');
  expect((await cli(['--help'])).stdout).toContain('plan FILE [--users T=N,…]');
});

test("the docs' sample is what the command prints for examples/budgets.json", async () => {
  const args = ['plan', 'budgets.json', '--users', 'free=1000,pro=50', '--max-daily-usd', '500'];
  const run = await cli(args, path.resolve(__dirname, '../../examples'));
  expect(run.code).toBe(0);
  expect(readDocs()).toContain(`$ npx token-budget ${args.join(' ')}\n${run.stdout}`);
});

test("the docs' --diff sample: the pro tier from 100,000 to 400,000 and the global limit doubled", async () => {
  const example = JSON.parse(readFileSync(path.resolve(__dirname, '../../examples/budgets.json'), 'utf8'));
  // Inside the project, where `--import tsx` resolves.
  const scratch = path.resolve(__dirname, '../../.scratch');
  mkdirSync(scratch, { recursive: true });
  const cwd = mkdtempSync(path.join(scratch, 'plan-diff-'));
  mkdirSync(path.join(cwd, 'main'));
  writeFileSync(path.join(cwd, 'main', 'budgets.json'), JSON.stringify(example));
  example.quotas.user.limits.pro = 400_000;
  example.globalTpm.limit = 2_000_000;
  writeFileSync(path.join(cwd, 'budgets.json'), JSON.stringify(example));
  const args = ['plan', '--diff', 'main/budgets.json', 'budgets.json', '--users', 'free=1000,pro=50', '--max-daily-usd', '100'];
  const run = await cli(args, cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(readDocs()).toContain(`$ npx token-budget ${args.join(' ')}\n${run.stdout}`);
  rmSync(cwd, { recursive: true, force: true });
});
