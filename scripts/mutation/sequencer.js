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
    const chosen = files ? tests.filter((test) => files.has(test.path)) : tests;
    // The file that failed last first (it likely kills this mutant too), then the quickest: once a test has failed,
    // the environment skips the rest, so a slow file after the killing one costs nothing. Jest's own order is the slowest first.
    for (const test of chosen) test.duration = this.time(test);
    const failed = (test) => (this.hasFailed(test) ? 0 : 1);
    return chosen.sort((a, b) => failed(a) - failed(b) || (a.duration ?? Infinity) - (b.duration ?? Infinity) || 0);
  }
}

module.exports = CoveringFilesSequencer;
