// Jest for `npm run test:mutation`: the fast in-process tests only (no Redis, no child processes, no oracle), run by Stryker.
// MUTATION_TESTS='test/http/*.test.ts,test/frameworks/*.test.ts' narrows a run to those files: a part covered by most
// of the suite is then scored against its own tests only (a lower bound of its score), in minutes instead of hours.
const focused = process.env.MUTATION_TESTS?.split(',').map((pattern) => `<rootDir>/${pattern.trim()}`);

/** @type {import('jest').Config} */
module.exports = {
  // Node's environment and Jest's order, but a mutant runs only the files of the tests that cover it.
  testEnvironment: require.resolve('./scripts/mutation/environment.js'),
  testSequencer: require.resolve('./scripts/mutation/sequencer.js'),
  setupFilesAfterEnv: [require.resolve('./scripts/mutation/skip.js')],
  // lib and examples are roots too, so that `jest --findRelatedTests lib/…` follows imports through them.
  roots: ['<rootDir>/test', '<rootDir>/lib', '<rootDir>/examples'],
  testMatch: focused ?? [
    '<rootDir>/test/alerts/*.test.ts',
    '<rootDir>/test/budget/config.test.ts',
    '<rootDir>/test/context/context.test.ts',
    '<rootDir>/test/context/usage.test.ts',
    '<rootDir>/test/flags/cache.test.ts',
    '<rootDir>/test/flags/featureFlag.test.ts',
    '<rootDir>/test/http/*.test.ts',
    '<rootDir>/test/featureBudget/*.test.ts',
    '<rootDir>/test/quota/*.test.ts',
    '<rootDir>/test/globalTpm/*.test.ts',
    '<rootDir>/test/llmHandler/*.test.ts',
    '<rootDir>/test/options/*.test.ts',
    '<rootDir>/test/stream/*.test.ts',
    '<rootDir>/test/responses/*.test.ts',
    // Not test/degrade/shadow.test.ts: it starts a Redis server for all its blocks.
    '<rootDir>/test/degrade/downgrade*.test.ts',
    '<rootDir>/test/degrade/summarize*.test.ts',
    '<rootDir>/test/degrade/truncate.test.ts',
    '<rootDir>/test/degrade/shadow-http.test.ts',
    '<rootDir>/test/degrade/shadow-parts.test.ts',
    '<rootDir>/test/flags/options.test.ts',
    '<rootDir>/test/budget/options.test.ts',
    '<rootDir>/test/budget/warmup.test.ts',
    '<rootDir>/test/budget/warnings.test.ts',
    '<rootDir>/test/budget/observers.test.ts',
    '<rootDir>/test/budget/config-error.test.ts',
    '<rootDir>/test/budget/core.test.ts',
    '<rootDir>/test/budget/read-config.test.ts',
    '<rootDir>/test/frameworks/wrong-framework.test.ts',
    '<rootDir>/test/pricing/*.test.ts',
    '<rootDir>/test/plan/*.test.ts',
    '<rootDir>/test/budget/aliases.test.ts',
    '<rootDir>/test/store/periods.test.ts',
    // Their Redis describe blocks are skipped (scripts/mutation/skip.js): the memory store's contract and the outage policies run.
    '<rootDir>/test/store/contract.test.ts',
    '<rootDir>/test/store/failure.test.ts',
    '<rootDir>/test/store/deadline.test.ts',
    '<rootDir>/test/tokens/chat.test.ts',
    '<rootDir>/test/tokens/piece-cache.test.ts',
    '<rootDir>/test/costMeter/behaviour.test.ts',
    '<rootDir>/test/costMeter/options.test.ts',
    '<rootDir>/test/store/resilient.test.ts',
    // Not test/metrics/prometheus.test.ts: whole apps behind supertest, ~15 s a run; events.test.ts feeds createMetrics directly.
    '<rootDir>/test/metrics/events.test.ts',
    // Express and Koa apps on loopback ports, an in-process upstream: what reaches lib/koa and lib/middleware.
    '<rootDir>/test/frameworks/*.test.ts',
    '<rootDir>/test/store/redis-flags.test.ts',
    '<rootDir>/test/store/memory-buckets.test.ts',
    '<rootDir>/test/store/amounts.test.ts',
    '<rootDir>/test/store/windows.test.ts',
    '<rootDir>/test/store/memory-leases.test.ts',
    '<rootDir>/test/store/expiring-counters.test.ts',
    // router.test.ts's Redis describe block is skipped (scripts/mutation/skip.js): the memory store's API runs.
    '<rootDir>/test/admin/*.test.ts',
  ],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60_000,
  maxWorkers: 1,
};
