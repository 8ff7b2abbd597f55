// The suites that time themselves or start processes: they run one file at a time (`npm run test:serial`), not beside others.
module.exports = [
  'test/chaos/',
  'test/integration/outage.test.ts',
  'test/integration/processes.test.ts',
  'test/flags/processes.test.ts',
  'test/flags/redis.test.ts',
  'test/costMeter/processes.test.ts',
  'test/cli/cli.test.ts',
  'test/store/deadline.test.ts',
];
