// Jest environment of the mutation runs: Node's, noting which file each test lives in (see sequencer.js).
const { TestEnvironment } = require('jest-environment-node');
const testIndex = require('./test-index');

class IndexingEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    // An own property: Stryker's wrapper calls it detached from the instance.
    this.handleTestEvent = (event) => {
      if (event.name === 'test_start') testIndex.record(event.test, context.testPath);
    };
  }

  async teardown() {
    testIndex.save();
    await super.teardown();
  }
}

module.exports = IndexingEnvironment;
