// How long featureBudget holds the event loop on hostile bodies: monitorEventLoopDelay and a 5 ms timer, per body, over HTTP.
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import { createTokenBudget } from '../lib';
import { warmEncoders } from '../lib/tokens/encoder';
import { HOSTILE_BODIES, type HostileBody } from '../test/tokens/corpus';

const RUNS = 3;

interface Held {
  /** The longest delay monitorEventLoopDelay saw, ms. */
  histogramMs: number;
  /** The longest gap between two ticks of a 5 ms interval, ms. */
  timerGapMs: number;
  requestMs: number;
  status: number;
}

/** One request with `body` to a fresh app guarding `hostile`, measured while it runs. */
async function measure(hostile: HostileBody, body: string): Promise<Held> {
  const budget = createTokenBudget({
    features: { hostile: { model: hostile.model, maxInput: hostile.maxInput, maxOutput: 1_000, onExceed: hostile.onExceed } },
    onWarning: () => {},
  });
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.post('/chat', budget.featureBudget('hostile'), (req, res) => {
    res.json({ input: req.tokenBudget?.inputTokens });
  });
  app.use(budget.errorHandler());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const post = (json: string) =>
    fetch(`http://127.0.0.1:${port}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json });
  // A first small request compiles the route's code: a server's first request, not the hostile one's cost.
  await (await post(JSON.stringify({ messages: [{ role: 'user', content: 'warm up' }] }))).arrayBuffer();

  const histogram = monitorEventLoopDelay({ resolution: 5 });
  let last = performance.now();
  let timerGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    timerGapMs = Math.max(timerGapMs, now - last);
    last = now;
  }, 5);
  histogram.enable();
  const started = performance.now();
  const res = await post(body);
  await res.arrayBuffer();
  const requestMs = performance.now() - started;
  histogram.disable();
  clearInterval(timer);
  await new Promise((resolve) => server.close(resolve));
  return { histogramMs: histogram.max / 1e6, timerGapMs, requestMs, status: res.status };
}

async function main(): Promise<void> {
  console.log(`featureBudget on hostile bodies — node ${process.version}; worst of ${RUNS} runs each, ms`);
  console.log('the client runs in the same process: its JSON.stringify and the body parse are in the figures too\n');
  warmEncoders();
  const rows = [['body', 'status', 'loop held (histogram)', 'loop held (5 ms timer)', 'request']];
  let worst = 0;
  for (const hostile of HOSTILE_BODIES) {
    const body = JSON.stringify({ messages: [{ role: 'user', content: hostile.content() }] });
    const runs: Held[] = [];
    for (let run = 0; run < RUNS; run++) runs.push(await measure(hostile, body));
    const held = Math.max(...runs.map((r) => r.histogramMs));
    const gap = Math.max(...runs.map((r) => r.timerGapMs));
    worst = Math.max(worst, held, gap);
    rows.push([
      hostile.name,
      String(runs[0]!.status),
      held.toFixed(1),
      gap.toFixed(1),
      Math.max(...runs.map((r) => r.requestMs)).toFixed(0),
    ]);
  }
  printTable(rows);
  console.log(`\nlongest the event loop was held: ${worst.toFixed(1)} ms (target: 50 ms)`);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(
    `|${widths.map((width, column) => (column === 0 ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
  );
  for (const row of rows.slice(1)) console.log(line(row));
}

void main();
