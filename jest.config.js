// Jest: TypeScript through SWC (type checking is `tsc --noEmit`, run first by `npm test`).
const serialSuites = require('./test/serial-suites');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // Suites that time themselves or start processes run alone, after this run (`npm run test:serial`): beside others on
  // two cores their bounds would measure the machine, not the code.
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...serialSuites.map((path) => `<rootDir>/${path}`)],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60_000,
  maxWorkers: 2,
};
