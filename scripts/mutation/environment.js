// Jest environment of the mutation runs: Node's, noting which file each test lives in (see sequencer.js), and once a
// test has failed under a mutant, skipping the rest of that run (the mutant is killed: more tests would only cost time).
const { TestEnvironment } = require('jest-environment-node');
const testIndex = require('./test-index');

class MutationEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    // An own property: Stryker's wrapper calls it detached from the instance.
    this.handleTestEvent = (event) => {
      if (event.name === 'test_start') {
        testIndex.record(event.test, context.testPath);
        if (testIndex.mutantKilled()) event.test.mode = 'skip';
      } else if (event.name === 'run_describe_start' && testIndex.mutantKilled()) {
        // Skipped whole, a block's beforeAll hooks (apps, upstreams, requests) do not run either.
        event.describeBlock.mode = 'skip';
      } else if (event.name === 'test_done' && event.test.errors.length > 0) {
        testIndex.noteFailure();
      }
    };
  }

  async teardown() {
    testIndex.save();
    await super.teardown();
  }
}

module.exports = MutationEnvironment;
