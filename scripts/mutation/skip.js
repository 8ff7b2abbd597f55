// Mutation runs only: skips the describe blocks that time the event loop (instrumented code is slower by design, so
// they say nothing of a mutant), start Redis servers (the mutation suite starts no process), or price a million calls
// (~10 s a mutant when instrumented; costNanos's own tests decide each mutant) or send a thousand requests (past Jest's
// 60 s when instrumented on a loaded machine, failing the first pass; the file's other tests decide its mutants); the rest
// of their files runs. MUTATION_REDIS=1 keeps the Redis blocks, for a focused run over the Redis store.
const TIMING = [
  'the event loop while counting hostile bodies',
  'a million calls of a cheap model',
  'a thousand requests under a spend cap',
  'redisStore under a busy event loop',
];
const REDIS = [
  'redisStore',
  'redisStore on one node, when Redis breaks',
  'redisStore on a cluster, when one node stalls',
  'the API with Redis',
];
const SKIPPED = new Set(process.env.MUTATION_REDIS === '1' ? TIMING : [...TIMING, ...REDIS]);

const original = globalThis.describe;
globalThis.describe = Object.assign((name, fn) => (SKIPPED.has(name) ? original.skip(name, fn) : original(name, fn)), original);
