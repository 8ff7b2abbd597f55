// startOfflineUpstream({ port }): an upstream at a URL known before it starts, for an app started apart.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { TokenBudgetConfigError } from '../../lib';
import { startOfflineUpstream } from '../../lib/testing';

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = http.createServer().listen(0, '127.0.0.1');
  await new Promise((listening) => server.once('listening', listening));
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}

test('it listens on the port asked for, and answers the SDK there', async () => {
  const port = await freePort();
  const upstream = await startOfflineUpstream({ port });
  try {
    expect(upstream.baseURL).toBe(`http://127.0.0.1:${port}/v1`);
    const client = new OpenAI({ apiKey: 'offline', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.usage?.total_tokens).toBe(upstream.billedTokens());
    expect(upstream.calls).toHaveLength(1);
  } finally {
    await upstream.close();
  }
});

test('a port already taken rejects the start instead of hanging', async () => {
  const first = await startOfflineUpstream();
  const { port } = new URL(first.baseURL);
  try {
    await expect(startOfflineUpstream({ port: Number(port) })).rejects.toThrow(/EADDRINUSE/);
  } finally {
    await first.close();
  }
});

test.each([-1, 65_536, 1.5, '4010'])('port %j is a configuration error', async (port) => {
  await expect(startOfflineUpstream({ port: port as number })).rejects.toThrow(
    new TokenBudgetConfigError(
      'TB_INVALID_OPTION',
      `startOfflineUpstream.port must be a port number (0: a free one); got ${JSON.stringify(port)}.`,
    ),
  );
});
