// `npm start`'s example server, offline: it starts, says so, serves a chat and reports the user's budget.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

let child: ChildProcess;
let base: string;
const lines: string[] = [];

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
  delete env.OPENAI_API_KEY;
  child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../examples/server.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const url = /token-budget example on (http:\/\/localhost:\d+)/.exec(line)?.[1];
      if (url) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`example exited with ${code}`)));
  });
}, 60_000);

afterAll(() => child?.kill());

test('says it runs offline', () => {
  expect(lines.join('\n')).toMatch(/OPENAI_API_KEY is not set: using the offline upstream/);
});

test('answers a chat and counts it against the demo user', async () => {
  const chat = await fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer demo-free' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello!' }] }),
  });
  expect(chat.status).toBe(200);
  const completion = (await chat.json()) as { model: string; usage: { total_tokens: number } };
  expect(completion.model).toBe('gpt-4o');
  expect(chat.headers.get('ratelimit-policy')).toBe('"user";q=10000;w=86400');
  const budget = await fetch(`${base}/budget`, { headers: { authorization: 'Bearer demo-free' } });
  expect(await budget.json()).toMatchObject({ used: completion.usage.total_tokens, limit: 10_000 });
});

test('refuses a request without a user, and malformed JSON, with JSON errors', async () => {
  const anonymous = await fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello!' }] }),
  });
  expect(anonymous.status).toBe(401);
  const malformed = await fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"messages": [',
  });
  expect(malformed.status).toBe(400);
  expect(((await malformed.json()) as { error: { type: string } }).error.type).toBe('invalid_request');
});

test('says which port is taken and how to pick another, and exits 1', async () => {
  const port = new URL(base).port;
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: port };
  delete env.OPENAI_API_KEY;
  const second = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../examples/server.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  second.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
  expect(code).toBe(1);
  expect(stderr).toContain(`Port ${port} is already in use: start with another, e.g. PORT=3001 npm start`);
}, 60_000);
