// Bytes the chain allocates per request, by where they are allocated, beside the bare route: garbage is CPU the collector pays later.
// Run: npm run bench:alloc   (env: REQUESTS=6000 TOP=15 BASELINE=<git ref>[,<ref>…] adds the chain as of those commits)
//
// V8's sampling heap profiler, told to keep the objects the collector has freed too, samples every
// 256 bytes allocated: unlike CPU time, the figures barely move with the machine's load (±1 %).
import { Session } from 'node:inspector/promises';
import { inProcessApp, serveMany } from './in-process';

const REQUESTS = Number(process.env.REQUESTS ?? 6000);
const TOP = Number(process.env.TOP ?? 15);
const BASELINES = process.env.BASELINE ? process.env.BASELINE.split(',') : [];

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Where a function is: this package's compiled file, a dependency, or node's own. */
function siteOf({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/tb-bench-[^/]*\/compiled\//, '');
  return `${functionName || '(anonymous)'} ${file || '(native)'}:${lineNumber + 1}`;
}

async function main(): Promise<void> {
  const { app, routes, remove } = inProcessApp(BASELINES);
  const session = new Session();
  session.connect();
  try {
    for (const route of routes) await serveMany(app, route, 2000); // warm-up: JIT, caches
    console.log(`${REQUESTS} requests per route, one route at a time; bytes allocated per request\n`);
    let bare = 0;
    for (const route of routes) {
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 256,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      } as never);
      await serveMany(app, route, REQUESTS);
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
      const bySite = new Map<string, number>();
      const visit = (node: ProfileNode) => {
        if (node.selfSize > 0) {
          const site = siteOf(node.callFrame);
          bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        }
        node.children.forEach(visit);
      };
      visit(profile.head);
      const total = [...bySite.values()].reduce((sum, bytes) => sum + bytes, 0) / REQUESTS;
      if (route === '/bare') bare = total;
      const added = route === '/bare' ? '' : `, ${(total - bare).toFixed(0)} more than bare`;
      console.log(`${route}: ${total.toFixed(0)} bytes${added}`);
      // The chain's own sites: what it adds to the same call made bare.
      const own = [...bySite].filter(([site]) => route === '/bare' || /^\S+ lib\//.test(site));
      for (const [site, bytes] of own.sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
        console.log(`  ${(bytes / REQUESTS).toFixed(0).padStart(6)}  ${site}`);
      }
    }
  } finally {
    session.disconnect();
    remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
