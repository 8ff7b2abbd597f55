// Instructions per request of the bare route and the chain, counted by valgrind: a figure the machine's load does not move.
// Run: npm run bench:instructions   (env: REPEATS=2 FROM=4000 TO=8000; BASELINE=<git ref>[,<ref>…] adds the chain as of
// those commits). Needs valgrind (Debian package valgrind); a run takes ~7 min per route and repeat here.
//
// CPU time per request moves by ±0.2× on a shared 2-core machine (bench/overhead.ts, bench/chain-cpu.ts); instructions
// do not depend on what else runs. Each route of bench/in-process.ts runs in its own process under
// `valgrind --tool=cachegrind`, twice: FROM requests, then TO requests. The difference over TO − FROM is what a request
// costs once the process is warm: start-up, loading and warm-up are in both runs and cancel. V8 runs with --predictable
// (no background compiler or collector threads) and fixed seeds. Repeats still differ by up to ~10 % (the collector and
// the timers run at other requests in a process that valgrind slows 50×): the least of them is the one least disturbed.
// Instructions are not time: they leave out what the chain's garbage and cache misses cost, so read this beside
// bench:chain, not instead of it.
import { execFileSync, spawn } from 'node:child_process';
import { IN_FLIGHT } from './in-process';
import { prepareLib } from './overhead';

const REPEATS = Number(process.env.REPEATS ?? 2);
const FROM = Number(process.env.FROM ?? 4000);
const TO = Number(process.env.TO ?? 8000);
const BASELINES = process.env.BASELINE ? process.env.BASELINE.split(',') : [];
const V8_FLAGS = ['--predictable', '--hash-seed=1', '--random-seed=1'];

interface Route {
  label: string;
  route: 'bare' | 'chain';
  libDir: string;
}

/** Instructions one process executed serving `count` requests to `route`. */
async function instructionsOf(route: Route, count: number): Promise<number> {
  const child = spawn(
    'valgrind',
    [
      '--tool=cachegrind',
      '--cache-sim=no',
      '--cachegrind-out-file=/dev/null',
      process.execPath,
      ...V8_FLAGS,
      '--import',
      'tsx',
      require.resolve('./instructions-child.ts'),
    ],
    {
      env: { ...process.env, LIB_DIR: route.libDir, ROUTE: route.route, COUNT: String(count) },
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const match = /I\s+refs:\s+([\d,]+)/.exec(stderr);
  if (code !== 0 || !match) throw new Error(`${route.label} (${count} requests) failed, exit ${code}:\n${stderr}`);
  return Number(match[1]!.replace(/,/g, ''));
}

/** Runs `jobs` two at a time: valgrind runs a process on one core. */
async function twoAtATime<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

const millions = (n: number) => `${(n / 1e6).toFixed(3)} M`;

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version']);
  } catch {
    console.error('bench:instructions needs valgrind (apt-get install valgrind).');
    process.exit(1);
  }
  const libs = [
    { label: 'chain', ...prepareLib(undefined) },
    ...BASELINES.map((ref) => ({ label: `chain@${ref}`, ...prepareLib(ref) })),
  ];
  try {
    const routes: Route[] = [
      { label: 'bare', route: 'bare', libDir: libs[0]!.libDir },
      ...libs.map(({ label, libDir }) => ({ label, route: 'chain' as const, libDir })),
    ];
    const runs = routes.flatMap((route) =>
      Array.from({ length: REPEATS }, () => [FROM, TO].map((count) => ({ route, count }))).flat(),
    );
    const counts = await twoAtATime(
      runs.map(
        ({ route, count }) =>
          () =>
            instructionsOf(route, count),
      ),
    );
    /** Per route, per repeat: instructions per request between the FROM-th and the TO-th. */
    const perRequest = routes.map((_, r) =>
      Array.from({ length: REPEATS }, (_, k) => {
        const at = (r * REPEATS + k) * 2;
        return (counts[at + 1]! - counts[at]!) / (TO - FROM);
      }),
    );
    console.log(
      `Instructions per request (valgrind), requests ${FROM + 1}–${TO}, ${IN_FLIGHT} in flight, the least of ${REPEATS} runs (range)\n`,
    );
    console.log('| route | instructions / request | vs bare | the chain adds |');
    console.log('|---|---|---|---|');
    const bare = Math.min(...perRequest[0]!);
    routes.forEach((route, r) => {
      const values = perRequest[r]!;
      const least = Math.min(...values);
      console.log(
        `| ${route.label} | ${millions(least)} (${millions(least)}–${millions(Math.max(...values))}) | ` +
          `${(least / bare).toFixed(3)}× | ${millions(least - bare)} |`,
      );
    });
  } finally {
    libs.forEach(({ remove }) => remove());
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
