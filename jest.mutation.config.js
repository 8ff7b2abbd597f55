// Jest for `npm run test:mutation`: the fast in-process tests only (no Redis, no child processes, no oracle), run by Stryker.
/** @type {import('jest').Config} */
module.exports = {
  // Node's environment and Jest's order, but a mutant runs only the files of the tests that cover it.
  testEnvironment: require.resolve('./test/mutation/environment.js'),
  testSequencer: require.resolve('./test/mutation/sequencer.js'),
  setupFilesAfterEnv: [require.resolve('./test/mutation/skip.js')],
  // lib and examples are roots too, so that `jest --findRelatedTests lib/…` follows imports through them.
  roots: ['<rootDir>/test', '<rootDir>/lib', '<rootDir>/examples'],
  testMatch: [
    '<rootDir>/test/alerts/*.test.ts',
    '<rootDir>/test/config.test.ts',
    '<rootDir>/test/context.test.ts',
    '<rootDir>/test/flags/cache.test.ts',
    '<rootDir>/test/flags/featureFlag.test.ts',
    '<rootDir>/test/http/*.test.ts',
    '<rootDir>/test/middleware/*.test.ts',
    '<rootDir>/test/pricing/*.test.ts',
    '<rootDir>/test/plan/*.test.ts',
    '<rootDir>/test/aliases.test.ts',
    '<rootDir>/test/store/periods.test.ts',
    // Their Redis describe blocks are skipped (test/mutation/skip.js): the memory store's contract and the outage policies run.
    '<rootDir>/test/store/contract.test.ts',
    '<rootDir>/test/store/failure.test.ts',
    '<rootDir>/test/store/deadline.test.ts',
    '<rootDir>/test/tokens/chat.test.ts',
    '<rootDir>/test/tokens/piece-cache.test.ts',
    '<rootDir>/test/cost/costMeter.test.ts',
    '<rootDir>/test/options/**/*.test.ts',
    '<rootDir>/test/mutation/**/*.test.ts',
  ],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60_000,
  maxWorkers: 1,
};
