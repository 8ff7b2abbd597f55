// Throughput and CPU per request of one route with the full budget chain vs bare vs the peer limiter, side by side in one run.
// Run: npm run bench:overhead   (env: ROUNDS=8 SECONDS=3 CONCURRENCY=16; RATE=<req/s> sends at that fixed rate instead;
// BASELINE=<git ref>[,<ref>…] adds the chain as of those commits;
// LIB=tsx runs lib/ through tsx's on-the-fly transform instead of as the package ships it)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import ts from 'typescript';
import { spawnApp } from '../test/helpers/child-app';
import { startRedis } from '../test/helpers/redis';

const ROUNDS = Number(process.env.ROUNDS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
/**
 * Requests per second sent on a fixed schedule (an open loop), whatever the answers' pace. Unset: CONCURRENCY in
 * flight (a closed loop), which measures throughput, but a route's CPU per request then also depends on how many
 * requests each turn of its event loop serves, which its own speed decides. At one fixed rate below every route's
 * capacity, all routes see the same arrivals, and CPU per request compares the work alone.
 */
const RATE = process.env.RATE === undefined ? undefined : Number(process.env.RATE);
const BASELINES = process.env.BASELINE ? process.env.BASELINE.split(',') : [];
const FROM_SOURCE = process.env.LIB === 'tsx';
const ROOT = path.resolve(__dirname, '..');

/**
 * A chat request of ~270 tokens as a chat client sends it: the same system prompt and
 * history every time, and a new last message (every request's is different).
 */
const HISTORY = [
  { role: 'system', content: 'You are a helpful assistant that answers briefly and precisely.' },
  ...Array.from({ length: 3 }, (_, i) => ({
    role: i % 2 ? 'assistant' : 'user',
    content: `Turn ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(6),
  })),
];
let sent = 0;
/** The messages of the next request: the history, and a last message no request had before. */
export const nextMessages = () => [
  ...HISTORY,
  { role: 'user', content: `Question ${++sent}: ` + 'why does the brown fox jump over the dog '.repeat(6) },
];
const nextBody = () => JSON.stringify({ messages: nextMessages() });

/** The stub upstream's fixed completion. */
export const STUB_COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 150, completion_tokens: 20, total_tokens: 170 },
});

/** A stub upstream: a fixed completion, as cheap as an HTTP answer gets, so the app is what is measured; it counts its calls. */
export function startStubUpstream(): Promise<{ url: string; calls: () => number; close: () => void }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    calls++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(STUB_COMPLETION) });
      res.end(STUB_COMPLETION);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
        calls: () => calls,
        close: () => server.close(),
      }),
    ),
  );
}

/** What one load run got: completed requests per second, and how many of them each status answered. */
export interface LoadResult {
  perSecond: number;
  statuses: Record<number, number>;
}

/**
 * Keeps CONCURRENCY requests in flight to `/route` for SECONDS. Every answer counts,
 * whatever its status (a route that refuses does less work: the statuses say so).
 */
export async function load(port: number, route: string): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: RATE === undefined ? CONCURRENCY : Infinity });
  const deadline = Date.now() + SECONDS * 1000;
  const statuses: Record<number, number> = {};
  let done = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.request(
        {
          port,
          host: '127.0.0.1',
          path: `/${route}`,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'x-user': `u${done % 100}` },
        },
        (res) => {
          statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(nextBody());
    });
  if (RATE === undefined) {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < deadline) {
          await one();
          done++;
        }
      }),
    );
  } else {
    // Sends whatever the schedule owes at each timer tick (~1 ms), so the arrivals stay on it.
    const start = Date.now();
    const answers: Promise<void>[] = [];
    while (Date.now() < deadline) {
      const owed = Math.floor(((Date.now() - start) * RATE) / 1000) - answers.length;
      for (let i = 0; i < owed; i++) answers.push(one().then(() => void done++));
      await new Promise((tick) => setTimeout(tick, 1));
    }
    await Promise.all(answers);
  }
  agent.destroy();
  if (failed > 0) throw new Error(`${failed} requests to /${route} got no answer`);
  return { perSecond: done / SECONDS, statuses };
}

/**
 * Commands Redis ran so far: scripts (EVALSHA/EVAL, one round trip each; nothing in
 * this bench calls Redis outside a script) and the commands the scripts ran inside.
 */
async function commandCalls(redis: { info(section: string): Promise<string> }): Promise<{ scripts: number; inner: number }> {
  const info = await redis.info('commandstats');
  const calls = { scripts: 0, inner: 0 };
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (match[1] === 'info') continue;
    if (match[1] === 'evalsha' || match[1] === 'eval') calls.scripts += Number(match[2]);
    else calls.inner += Number(match[2]);
  }
  return calls;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The share of each status among a route's answers, e.g. `200: 100%`. */
function statusMix(statuses: Record<number, number>): string {
  const total = Object.values(statuses).reduce((sum, count) => sum + count, 0);
  return Object.entries(statuses)
    .map(([status, count]) => `${status}: ${((100 * count) / total).toFixed(count === total ? 0 : 1)}%`)
    .join(', ');
}

/** CPU the app process has used so far, and the warnings it has printed. */
async function appCounters(port: number): Promise<{ micros: number; warnings: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/cpu`);
  return (await res.json()) as { micros: number; warnings: number };
}

/**
 * `lib/` compiled to CommonJS with the project's compiler options, as `npm run build` emits it.
 * tsx's on-the-fly transform (esbuild, keepNames) makes every imported binding a getter call
 * and names every closure with a defineProperty: a hot loop of ours ran ~1.6× slower under it,
 * a cost the shipped package does not have (and the SDK and the peer, plain JS, never paid).
 */
function compileLib(sourceLib: string, outDir: string): string {
  const { config } = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  const { options } = ts.convertCompilerOptionsFromJson({ ...config.compilerOptions, noEmit: false }, ROOT);
  const outLib = path.join(outDir, 'lib');
  const compileDir = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) compileDir(file);
      else if (file.endsWith('.json')) {
        // Data the code imports (the budget file's schema), as the build copies it.
        const out = path.join(outLib, path.relative(sourceLib, file));
        mkdirSync(path.dirname(out), { recursive: true });
        copyFileSync(file, out);
      } else if (file.endsWith('.ts')) {
        const out = path.join(outLib, path.relative(sourceLib, file)).replace(/\.ts$/, '.js');
        mkdirSync(path.dirname(out), { recursive: true });
        writeFileSync(
          out,
          ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText,
        );
      }
    }
  };
  compileDir(sourceLib);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(outDir, 'node_modules'));
  return outLib;
}

/** The `lib/` an app runs: this tree's or `ref`'s, compiled unless LIB=tsx, in a temporary directory. */
export function prepareLib(ref: string | undefined): { libDir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tb-bench-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  let sourceLib = path.join(ROOT, 'lib');
  if (ref !== undefined) {
    const source = path.join(dir, 'source');
    mkdirSync(source);
    const archive = execFileSync('git', ['archive', '--format=tar', ref, 'lib'], { cwd: ROOT, maxBuffer: 1 << 28 });
    execFileSync('tar', ['-x', '-C', source], { input: archive });
    sourceLib = path.join(source, 'lib');
    if (FROM_SOURCE) symlinkSync(path.join(ROOT, 'node_modules'), path.join(source, 'node_modules'));
  }
  if (FROM_SOURCE) return { libDir: sourceLib, remove };
  return { libDir: compileLib(sourceLib, path.join(dir, 'compiled')), remove };
}

interface Route {
  label: string;
  path: string;
  port: number;
}

async function main(): Promise<void> {
  const redisServer = await startRedis();
  const upstream = await startStubUpstream();
  const env = { REDIS_URL: redisServer.url, UPSTREAM_URL: upstream.url };
  const current = prepareLib(undefined);
  const app = await spawnApp(require.resolve('./overhead-app.ts'), { ...env, LIB_DIR: current.libDir });
  const baselines = BASELINES.map((ref) => ({ ref, ...prepareLib(ref) }));
  const baseApps = await Promise.all(
    baselines.map(({ ref, libDir }) =>
      spawnApp(require.resolve('./overhead-app.ts'), { ...env, LIB_DIR: libDir, REDIS_PREFIX: `bench-${ref}:` }),
    ),
  );
  const apps = [app, ...baseApps];
  const warningsOfApps = async () =>
    (await Promise.all(apps.map((a) => appCounters(a.port)))).reduce((sum, c) => sum + c.warnings, 0);
  const redis = createClient({ url: redisServer.url });
  redis.on('error', () => {});
  await redis.connect();
  const routes: Route[] = [
    { label: 'bare (SDK call only)', path: 'bare', port: app.port },
    { label: 'full chain, memory store', path: 'memory', port: app.port },
    { label: 'full chain, memory store, with budget.metrics()', path: 'metrics', port: app.port },
    { label: 'full chain, Redis store', path: 'redis', port: app.port },
    { label: 'express-rate-limit + rate-limit-redis', path: 'peer', port: app.port },
    { label: 'bare again (control: the same work)', path: 'control', port: app.port },
  ];
  baseApps.forEach(({ port }, i) => {
    const { ref } = baselines[i]!;
    routes.push(
      { label: `full chain, memory store, at ${ref}`, path: 'memory', port },
      { label: `full chain, Redis store, at ${ref}`, path: 'redis', port },
    );
  });
  try {
    for (const route of routes) await load(route.port, route.path); // warm-up: JIT, encoders, scripts
    const warningsBefore = await warningsOfApps();
    const rps = routes.map((): number[] => []);
    const scriptsPerRequest = routes.map((): number[] => []);
    const innerPerRequest = routes.map((): number[] => []);
    const cpuPerRequest = routes.map((): number[] => []);
    const upstreamPerRequest = routes.map((): number[] => []);
    const statuses = routes.map((): Record<number, number> => ({}));
    for (let round = 0; round < ROUNDS; round++) {
      // Each round visits the routes in another order, so that no route always runs
      // right after the same neighbour (GC debt, socket reuse, the other core's load).
      const order = routes.map((_, i) => (i + round) % routes.length);
      if (round % 2) order.reverse();
      for (const i of order) {
        const { port, path: route } = routes[i]!;
        const before = await commandCalls(redis);
        const cpuBefore = await appCounters(port);
        const upstreamBefore = upstream.calls();
        const { perSecond, statuses: answered } = await load(port, route);
        const upstreamAfter = upstream.calls();
        const cpuAfter = await appCounters(port);
        const after = await commandCalls(redis);
        const requests = perSecond * SECONDS;
        cpuPerRequest[i]!.push((cpuAfter.micros - cpuBefore.micros) / requests);
        rps[i]!.push(perSecond);
        scriptsPerRequest[i]!.push((after.scripts - before.scripts) / requests);
        innerPerRequest[i]!.push((after.inner - before.inner) / requests);
        upstreamPerRequest[i]!.push((upstreamAfter - upstreamBefore) / requests);
        for (const [status, count] of Object.entries(answered))
          statuses[i]![Number(status)] = (statuses[i]![Number(status)] ?? 0) + count;
      }
    }
    const warnings = (await warningsOfApps()) - warningsBefore;
    // Each ratio is taken within a round (the machine's load drifts between rounds), then the median of the rounds.
    const ratios = (values: number[][], i: number) => {
      const perRound = values[i]!.map((value, round) => value / values[0]![round]!);
      const sorted = [...perRound].sort((a, b) => a - b);
      const quartile = (q: number) => sorted[Math.round(q * (sorted.length - 1))]!.toFixed(2);
      return `${median(perRound).toFixed(2)}× (${quartile(0.25)}–${quartile(0.75)})`;
    };
    console.log(
      `bench/overhead: ${ROUNDS} rounds × ${SECONDS} s per route, ` +
        `${RATE === undefined ? `${CONCURRENCY} in flight` : `${RATE} requests a second sent on a fixed schedule`}, ` +
        'routes interleaved in rotating order; ' +
        `lib/ ${FROM_SOURCE ? 'through tsx' : 'compiled as npm run build does'}`,
    );
    console.log(
      '| route | req/s (median) | vs bare (quartiles) | app CPU µs / request | vs bare (quartiles) | upstream calls / request | statuses | Redis round trips / request | commands inside scripts / request |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    routes.forEach((route, i) => {
      const r = median(rps[i]!);
      const cpu = median(cpuPerRequest[i]!);
      console.log(
        `| ${route.label} | ${r.toFixed(0)} | ${ratios(rps, i)} | ${cpu.toFixed(0)} | ${ratios(cpuPerRequest, i)} | ` +
          `${median(upstreamPerRequest[i]!).toFixed(2)} | ${statusMix(statuses[i]!)} | ` +
          `${median(scriptsPerRequest[i]!).toFixed(2)} | ${median(innerPerRequest[i]!).toFixed(1)} |`,
      );
    });
    console.log(`warnings printed by the app while measuring: ${warnings}`);
  } finally {
    for (const { child } of apps) child.kill();
    for (const { remove } of [current, ...baselines]) remove();
    await redis.close();
    upstream.close();
    await redisServer.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
