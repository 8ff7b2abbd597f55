// The dashboard in a real browser (headless Chromium through playwright-core) against `npm start`'s example server.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type Browser, chromium } from 'playwright-core';
import { until } from '../helpers/until';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Flags known to work on these machines: no first-run screens, and no calls out to Google on a closed network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** The example's documented demo-only sign-in. */
const ADMIN = { username: 'admin', password: 'demo' };
const BASIC = `Basic ${Buffer.from('admin:demo').toString('base64')}`;
/** gpt-4o's published price, USD per token. */
const GPT_4O = { input: 2.5e-6, output: 10e-6 };

let server: ChildProcess;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the dashboard test drives a real browser. ` +
        'Install it with `sudo apt-get install -y chromium` (Debian/Ubuntu; .ci/run does it), ' +
        'or point CHROMIUM_PATH at a Chromium or Chrome binary.',
    );
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
  delete env.OPENAI_API_KEY;
  delete env.ADMIN_PASSWORD;
  server = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../examples/server.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  [base, browser] = await Promise.all([
    new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).on('line', (line) => {
        const url = /Dashboard: (http:\/\/localhost:\d+)\/admin\//.exec(line)?.[1];
        if (url) resolve(url);
      });
      server.once('exit', (code) => reject(new Error(`the example server exited with ${code}`)));
    }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.kill();
});

const chat = (content: string) =>
  fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer demo-free' },
    body: JSON.stringify({ messages: [{ role: 'user', content }] }),
  });

test('a visitor without authorization gets a 401 and nothing of the page or the data', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen: { status: number; body: string }[] = [];
  page.on('response', (response) => {
    void response.text().then(
      (body) => seen.push({ status: response.status(), body }),
      () => seen.push({ status: response.status(), body: '' }),
    );
  });
  // Chromium, with nobody to ask for a password, ends the navigation on the 401 challenge.
  const navigation = await page.goto(`${base}/admin/`).then(
    (response) => `status ${response?.status()}`,
    (err: Error) => err.message,
  );
  expect(navigation).toMatch(/ERR_INVALID_AUTH_CREDENTIALS|status 401/);
  await page.waitForLoadState();
  // Nothing but the refusal (if the browser shows it at all) reached the page.
  expect(seen.filter((response) => response.status !== 401)).toEqual([]);
  expect(seen.map((response) => response.body).join('')).not.toMatch(/Spend per hour|dashboard\.js/);
  const api = await context.request.get(`${base}/admin/api/overview`);
  expect(api.status()).toBe(401);
  expect(await api.json()).toEqual({ error: { type: 'unauthorized', message: expect.any(String) } });
  const wrong = await fetch(`${base}/admin/api/overview`, {
    headers: { authorization: `Basic ${Buffer.from('admin:guess').toString('base64')}` },
  });
  expect(wrong.status).toBe(401);
  await context.close();
});

test('the page shows the spend of the requests made, and a flag switch turns the feature off', async () => {
  let billedUsd = 0;
  for (const content of ['Hello!', 'What is a token budget?', 'Thanks.']) {
    const res = await chat(content);
    expect(res.status).toBe(200);
    const { usage } = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    billedUsd += usage.prompt_tokens * GPT_4O.input + usage.completion_tokens * GPT_4O.output;
  }
  // The rankings are written just after each settlement, off the request's path.
  await until(async () => {
    const overview = await fetch(`${base}/admin/api/spend`, { headers: { authorization: BASIC } });
    return ((await overview.json()) as { hour: { totalUsd: number } }).hour.totalUsd >= billedUsd - 1e-12;
  });

  const context = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(`${base}/admin`);
  expect(page.url()).toBe(`${base}/admin/`);
  await page.waitForSelector('body[data-loaded="true"]');
  expect(await page.textContent('#spend-hour')).toBe(`$${billedUsd.toFixed(6)}`);
  // The chart: drawn on a canvas, its data in the table beside it (the current hour last).
  const canvas = await page.locator('#chart canvas').first().boundingBox();
  expect(canvas!.width).toBeGreaterThan(200);
  expect(canvas!.height).toBeGreaterThan(100);
  const lastHour = await page.locator('#hourly tbody tr').last().locator('td').nth(1).textContent();
  expect(Number(lastHour)).toBeCloseTo(billedUsd, 12);
  expect(await page.locator('#hourly tbody tr').count()).toBe(24);
  expect(await page.textContent('#principals tbody')).toContain('alice');
  expect(await page.textContent('.u-legend')).toContain('alert $0.0100');
  if (process.env.UPDATE_SCREENSHOT)
    await page.screenshot({ path: path.resolve(__dirname, '../../docs/dashboard.png'), fullPage: true });

  const chatSwitch = page.locator('#flags input[data-flag="chat"]');
  expect(await chatSwitch.isChecked()).toBe(true);
  const flipped = page.waitForResponse((res) => res.url().endsWith('/admin/api/flags/chat') && res.request().method() === 'POST');
  await chatSwitch.click();
  expect((await flipped).status()).toBe(200);
  const refused = await chat('Are you there?');
  expect(refused.status).toBe(503);
  expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('feature_disabled');
  // Page code is a string: this file is type-checked without the DOM's types.
  await page.waitForFunction('document.querySelector(\'#flags input[data-flag="chat"]\').checked === false');

  // A phone's width: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  // Polled, not waited for a fixed time: a loaded machine may lay the page out again late. (Playwright's
  // waitForFunction evaluates its string with eval, which the page's security policy forbids.)
  const pageWidth = () => page.evaluate('document.documentElement.scrollWidth') as Promise<number>;
  await until(async () => (await pageWidth()) <= 390, { timeoutMs: 10_000 }).catch(() => undefined);
  expect(await pageWidth()).toBeLessThanOrEqual(390);
  // No script error, and nothing the page's security policy had to block.
  expect(pageErrors).toEqual([]);
  await context.close();
});
