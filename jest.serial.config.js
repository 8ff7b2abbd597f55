// Jest for `npm run test:serial`: the chaos suite and the suites that time themselves or start processes, one file at a time.
const serialSuites = require('./test/serial-suites');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: serialSuites.map((path) => `<rootDir>/${path}${path.endsWith('/') ? '**/*.test.ts' : ''}`),
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 120_000,
  maxWorkers: 1,
  // Jest repeats the failures at the end only past 20 files; these 15 print theirs among pages of Redis warnings, and
  // CI keeps only the tail of its log.
  reporters: [['default', { summaryThreshold: 0 }]],
};
