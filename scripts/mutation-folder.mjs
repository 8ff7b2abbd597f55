// `npm run test:mutation:folder -- <folder of lib/, or a file>`: Stryker over that part of lib/ only, with the config's exclusions.
// Several files in one run (one first pass over the tests): 'steps/@(userQuota|globalTpm).ts'. Not braces: Stryker
// splits --mutate at commas. With MUTATION_TESTS (see jest.mutation.config.js) the run keeps its own incremental file,
// reports/mutation/focused/<part>.json, so that a run against a few test files never replaces the whole suite's results.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [target, ...strykerArgs] = process.argv.slice(2);
if (target === undefined) {
  console.error('Usage: npm run test:mutation:folder -- <folder of lib/, e.g. alerts, or a file, e.g. aliases.ts>');
  process.exit(2);
}
// A --mutate given on the command line replaces the config's list, its exclusions too: they are repeated here.
const { mutate } = JSON.parse(readFileSync(new URL('../stryker.config.json', import.meta.url), 'utf8'));
const part = target.endsWith('.ts') ? `lib/${target}` : `lib/${target}/**/*.ts`;
// …but not one that would exclude the part named: `cli`, `'cli/@(run|flags).ts'` or `testing` run with MUTATION_TESTS.
const excludes = (pattern) => part.startsWith(pattern.slice(1).replace(/\*\*$/, ''));
const exclusions = mutate.filter((pattern) => pattern.startsWith('!') && !excludes(pattern));
const focusedFile = `reports/mutation/focused/${target.replace(/[^\w.-]+/g, '_')}.json`;
const incremental = process.env.MUTATION_TESTS ? ['--incrementalFile', focusedFile] : [];
const args = ['run', '--mutate', [part, ...exclusions].join(','), ...incremental, ...strykerArgs];
const run = spawnSync('stryker', args, { stdio: 'inherit' });
process.exit(run.status ?? 1);
