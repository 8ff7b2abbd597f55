// The chain's own CPU per request, in one process without sockets: the SDK's real client over a fetch that answers at once.
// Run: npm run bench:chain   (env: ROUNDS=7 REQUESTS=20000 BASELINE=<git ref>[,<ref>…] adds the chain as of those commits;
// UPSTREAM_DELAY_MS=1 makes the fake upstream answer on a timer)
//
// bench/overhead.ts measures the app as it runs, but a loaded or noisy machine moves its CPU ratios by ±0.2 (the
// event loop batches differently from run to run). Here nothing waits on I/O, so the figure is the CPU of the chain's
// code alone: what a route with the four middlewares costs on top of the same call made bare, side by side in one run.
import type { Express } from 'express';
import { IN_FLIGHT, inProcessApp, serveMany } from './in-process';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const BASELINES = process.env.BASELINE ? process.env.BASELINE.split(',') : [];

/** CPU µs per request of `count` requests to `path`, IN_FLIGHT at a time. */
async function cpuPerRequest(app: Express, path: string, count: number): Promise<number> {
  const before = process.cpuUsage();
  await serveMany(app, path, count);
  const { user, system } = process.cpuUsage(before);
  return (user + system) / count;
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.round(q * (values.length - 1))]!;

async function main(): Promise<void> {
  const { app, routes, remove } = inProcessApp(BASELINES);
  try {
    for (const route of routes) await cpuPerRequest(app, route, REQUESTS / 4); // warm-up: JIT, caches
    const samples = routes.map((): number[] => []);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotated each round, so that no route always runs first or after the same one.
      for (let k = 0; k < routes.length; k++) {
        const i = (round + k) % routes.length;
        samples[i]!.push(await cpuPerRequest(app, routes[i]!, REQUESTS));
      }
    }
    console.log(
      `${ROUNDS} rounds of ${REQUESTS} requests per route, ${IN_FLIGHT} in flight; CPU µs per request (median, quartiles)\n`,
    );
    console.log('| route | CPU µs / request | vs bare | the chain adds, µs |');
    console.log('|---|---|---|---|');
    routes.forEach((route, i) => {
      // Ratios and differences are taken within each round, where the routes ran side by side.
      const ratios = samples[i]!.map((cpu, round) => cpu / samples[0]![round]!);
      const added = samples[i]!.map((cpu, round) => cpu - samples[0]![round]!);
      console.log(
        `| ${route} | ${quantile(samples[i]!, 0.5).toFixed(1)} | ${quantile(ratios, 0.5).toFixed(2)}× ` +
          `(${quantile(ratios, 0.25).toFixed(2)}–${quantile(ratios, 0.75).toFixed(2)}) | ` +
          `${quantile(added, 0.5).toFixed(1)} (${quantile(added, 0.25).toFixed(1)}–${quantile(added, 0.75).toFixed(1)}) |`,
      );
    });
  } finally {
    remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
