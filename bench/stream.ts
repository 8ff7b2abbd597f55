// Time to first token and chunks per second of one stream through the full budget chain vs the bare SDK forwarding it, side by side in one run.
// Run: npm run bench:stream   (env: ROUNDS=20 TOKENS=2000 API=chat|responses)
import { once } from 'node:events';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI from 'openai';
import { createTokenBudget } from '../lib';
import { startOfflineUpstream } from '../examples/offline-upstream';

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const TOKENS = Number(process.env.TOKENS ?? 2000);
const API = process.env.API === 'responses' ? 'responses' : 'chat';
const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

async function listen(app: express.Express): Promise<http.Server> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** The content chunks of one stream read through the SDK, in the API's format. */
async function* contentChunks(client: OpenAI): AsyncGenerator<void> {
  if (API === 'responses') {
    const events = await client.responses.create({ model: 'gpt-4o', input: messages, stream: true }, { path: '/chat' });
    for await (const event of events) if (event.type === 'response.output_text.delta') yield;
    return;
  }
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true }, { path: '/chat' });
  for await (const chunk of stream) if (chunk.choices[0]?.delta.content) yield;
}

/** One stream read through the SDK: ms to the first content chunk, and content chunks per second after it. */
async function readStream(client: OpenAI): Promise<{ ttft: number; perSecond: number }> {
  const start = performance.now();
  let first = 0;
  let chunks = 0;
  for await (const _ of contentChunks(client)) if (chunks++ === 0) first = performance.now();
  return { ttft: first - start, perSecond: ((chunks - 1) * 1000) / (performance.now() - first) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const upstream = await startOfflineUpstream({ completionTokens: () => TOKENS });
  const upstreamClient = new OpenAI({ apiKey: 'sk-bench', baseURL: upstream.baseURL, maxRetries: 0 });
  const budget = createTokenBudget({
    features: { chat: { maxInput: 1000, maxOutput: TOKENS, model: 'gpt-4o', dailyTokens: 1e12 } },
    onWarning: () => {},
  });

  const bare = express();
  bare.post('/chat', express.json(), async (req, res) => {
    if (API === 'responses') {
      const events = await upstreamClient.responses.create({ model: 'gpt-4o', input: req.body.input, stream: true });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for await (const event of events) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      return void res.end();
    }
    const stream = await upstreamClient.chat.completions.create({ model: 'gpt-4o', messages: req.body.messages, stream: true });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for await (const chunk of stream) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  const chain = express();
  chain.post(
    '/chat',
    express.json(),
    budget.featureBudget('chat'),
    budget.globalTpm({ limit: 1e12 }),
    budget.llmHandler({ client: upstreamClient }),
  );

  const servers = { bare: await listen(bare), chain: await listen(chain) };
  const clients = Object.fromEntries(
    Object.entries(servers).map(([name, server]) => [
      name,
      new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 }),
    ]),
  ) as Record<keyof typeof servers, OpenAI>;
  const results = { bare: [] as { ttft: number; perSecond: number }[], chain: [] as { ttft: number; perSecond: number }[] };
  // Warm both (the SDK's first call in a process loads lazily), then alternate so that load drifts hit both alike.
  await readStream(clients.bare);
  await readStream(clients.chain);
  for (let round = 0; round < ROUNDS; round++) {
    results.bare.push(await readStream(clients.bare));
    results.chain.push(await readStream(clients.chain));
  }
  const ttft = { bare: median(results.bare.map((r) => r.ttft)), chain: median(results.chain.map((r) => r.ttft)) };
  const rate = {
    bare: median(results.bare.map((r) => r.perSecond)),
    chain: median(results.chain.map((r) => r.perSecond)),
  };
  console.log(`${ROUNDS} rounds of one ${TOKENS}-chunk ${API} stream each, medians:`);
  console.log(`| route | time to first token | chunks/s |`);
  console.log(`| bare SDK forwarding | ${ttft.bare.toFixed(2)} ms | ${rate.bare.toFixed(0)} |`);
  console.log(`| full chain (featureBudget, globalTpm, llmHandler) | ${ttft.chain.toFixed(2)} ms | ${rate.chain.toFixed(0)} |`);
  console.log(
    `added to first token: ${(ttft.chain - ttft.bare).toFixed(2)} ms; throughput ${(rate.chain / rate.bare).toFixed(3)}×`,
  );
  for (const server of Object.values(servers)) server.close();
  await upstream.close();
}

void main();
