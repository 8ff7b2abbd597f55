// Throughput of one route with the full budget chain vs bare vs the peer limiter, side by side in one run.
// Run: npm run bench:overhead   (env: ROUNDS=8 SECONDS=3 CONCURRENCY=16)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { spawnApp } from '../test/helpers/child-app';
import { startRedis } from '../test/helpers/redis';

const ROUNDS = Number(process.env.ROUNDS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const ROUTES = ['bare', 'memory', 'redis', 'peer'] as const;
type Route = (typeof ROUTES)[number];

const BODY = JSON.stringify({
  messages: [
    { role: 'system', content: 'You are a helpful assistant that answers briefly and precisely.' },
    ...Array.from({ length: 4 }, (_, i) => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `Turn ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(6),
    })),
  ],
});

/** A stub upstream: a fixed completion, as cheap as an HTTP answer gets, so the app is what is measured. */
function startStubUpstream(): Promise<{ url: string; close: () => void }> {
  const completion = JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 0,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 150, completion_tokens: 20, total_tokens: 170 },
  });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(completion) });
      res.end(completion);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: () => server.close() }),
    ),
  );
}

/** Keeps CONCURRENCY requests in flight for SECONDS; returns completed requests per second. */
async function load(port: number, route: Route): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.request(
        { port, host: '127.0.0.1', path: `/${route}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-user': `u${done % 100}` } },
        (res) => {
          if (res.statusCode !== 200) failed++;
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(BODY);
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  if (failed > 0) throw new Error(`${failed} requests to /${route} failed`);
  return done / SECONDS;
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

async function appCpuMicros(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/cpu`);
  return ((await res.json()) as { micros: number }).micros;
}

async function main(): Promise<void> {
  const redisServer = await startRedis();
  const upstream = await startStubUpstream();
  const app = await spawnApp(require.resolve('./overhead-app.ts'), { REDIS_URL: redisServer.url, UPSTREAM_URL: upstream.url });
  const redis = createClient({ url: redisServer.url });
  redis.on('error', () => {});
  await redis.connect();
  try {
    for (const route of ROUTES) await load(app.port, route); // warm-up: JIT, encoders, scripts
    const rps: Record<Route, number[]> = { bare: [], memory: [], redis: [], peer: [] };
    const scriptsPerRequest: Record<Route, number[]> = { bare: [], memory: [], redis: [], peer: [] };
    const innerPerRequest: Record<Route, number[]> = { bare: [], memory: [], redis: [], peer: [] };
    const cpuPerRequest: Record<Route, number[]> = { bare: [], memory: [], redis: [], peer: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Each round visits the routes in another order, so that no route always runs
      // right after the same neighbour (GC debt, socket reuse, the other core's load).
      const order = ROUTES.map((_, i) => ROUTES[(i + round) % ROUTES.length]!);
      if (round % 2) order.reverse();
      for (const route of order) {
        const before = await commandCalls(redis);
        const cpuBefore = await appCpuMicros(app.port);
        const perSecond = await load(app.port, route);
        const cpuAfter = await appCpuMicros(app.port);
        const after = await commandCalls(redis);
        const requests = perSecond * SECONDS;
        cpuPerRequest[route].push((cpuAfter - cpuBefore) / requests);
        rps[route].push(perSecond);
        scriptsPerRequest[route].push((after.scripts - before.scripts) / requests);
        innerPerRequest[route].push((after.inner - before.inner) / requests);
      }
    }
    const bare = median(rps.bare);
    console.log(`bench/overhead: ${ROUNDS} rounds × ${SECONDS} s per route, ${CONCURRENCY} in flight, routes interleaved in rotating order`);
    console.log('| route | req/s (median) | vs bare | app CPU µs / request | vs bare | Redis round trips / request | commands inside scripts / request |');
    console.log('|---|---|---|---|---|---|---|');
    const labels: Record<Route, string> = {
      bare: 'bare (SDK call only)',
      memory: 'full chain, memory store',
      redis: 'full chain, Redis store',
      peer: 'express-rate-limit + rate-limit-redis',
    };
    for (const route of ROUTES) {
      const r = median(rps[route]);
      const trips = median(scriptsPerRequest[route]).toFixed(2);
      const cpu = median(cpuPerRequest[route]);
      const cpuRatio = (cpu / median(cpuPerRequest.bare)).toFixed(2);
      console.log(
        `| ${labels[route]} | ${r.toFixed(0)} | ${(r / bare).toFixed(2)}× | ${cpu.toFixed(0)} | ${cpuRatio}× | ${trips} | ${median(innerPerRequest[route]).toFixed(1)} |`,
      );
    }
  } finally {
    app.child.kill();
    await redis.close();
    upstream.close();
    await redisServer.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
