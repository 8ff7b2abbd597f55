// CPU profile of the bench app under load on one route: where the chain's CPU per request goes.
// Run: npx tsx bench/overhead-profile.ts memory   (env: SECONDS=3 CONCURRENCY=16 PROFILE_DIR=.profiles PROFILE_INTERVAL_US=1000 REF=<git ref> LIB=tsx)
// Open the .cpuprofile it writes in Chrome DevTools (Performance) or speedscope.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startRedis } from '../test/helpers/redis';
import { load, prepareLib, startStubUpstream } from './overhead';

async function main(): Promise<void> {
  const route = process.argv[2] ?? 'memory';
  const dir = path.resolve(process.env.PROFILE_DIR ?? '.profiles');
  const redisServer = await startRedis();
  const upstream = await startStubUpstream();
  const lib = prepareLib(process.env.REF);
  // The app under `node --cpu-prof`, which writes the profile when the app exits (it exits when its stdin closes).
  const app = spawn(
    process.execPath,
    [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-interval=${process.env.PROFILE_INTERVAL_US ?? 1000}`,
      '--import',
      'tsx',
      require.resolve('./overhead-app.ts'),
    ],
    {
      env: { ...process.env, REDIS_URL: redisServer.url, UPSTREAM_URL: upstream.url, LIB_DIR: lib.libDir },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  try {
    const [line] = (await once(createInterface({ input: app.stdout! }), 'line')) as [string];
    const { port } = JSON.parse(line) as { port: number };
    await load(port, route); // warm-up
    const { perSecond } = await load(port, route);
    app.stdin!.end();
    await once(app, 'exit');
    console.log(`/${route}: ${perSecond.toFixed(0)} req/s while profiled; profile written to ${dir}`);
  } finally {
    app.kill();
    lib.remove();
    upstream.close();
    await redisServer.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
