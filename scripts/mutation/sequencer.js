// Jest sequencer of the mutation runs: a mutant runs only the files that hold the tests covering it.
// Stryker's Jest runner selects those tests by name (testNamePattern) among every file related to the
// mutated one, and Jest loads each such file (Express, openai, lib) only to skip its tests: ~1 s a file.
const Sequencer = require('@jest/test-sequencer').default;
const testIndex = require('./test-index');

class CoveringFilesSequencer extends Sequencer {
  constructor(options) {
    super(options);
    this.testNamePattern = options.globalConfig.testNamePattern;
  }

  sort(tests) {
    const files = this.testNamePattern ? testIndex.filesMatching(this.testNamePattern) : undefined;
    return super.sort(files ? tests.filter((test) => files.has(test.path)) : tests);
  }
}

module.exports = CoveringFilesSequencer;
