// Which file each test lives in, as seen in Stryker's first (dry) run; kept in this process and in the sandbox.
const fs = require('node:fs');
const path = require('node:path');

/** Stryker runs the tests in its sandbox: the index lives there, and survives a restarted test runner. */
const FILE = path.join(process.cwd(), '.mutation-test-index.json');
const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';

/** The mutant of the run in which a test failed. */
let killedMutant;

/** Full test name (describe titles and test title, as Jest joins them) → the files holding a test of that name. */
const files = new Map();

function fullName(entry) {
  const names = [];
  for (let block = entry; block && block.parent; block = block.parent) names.unshift(block.name);
  return names.join(' ');
}

module.exports = {
  /** Notes a test as it starts, in runs that test no mutant (the dry run). */
  record(test, testPath) {
    if (process.env[ACTIVE_MUTANT] !== undefined) return;
    const name = fullName(test);
    files.set(name, [...new Set([...(files.get(name) ?? []), testPath])]);
  },
  /** A test failed: under a mutant, that mutant is killed. */
  noteFailure() {
    killedMutant = process.env[ACTIVE_MUTANT];
  },
  /** Whether a test has already failed under the mutant now active. */
  mutantKilled() {
    return killedMutant !== undefined && killedMutant === process.env[ACTIVE_MUTANT];
  },
  save() {
    if (process.env[ACTIVE_MUTANT] === undefined && files.size > 0) fs.writeFileSync(FILE, JSON.stringify([...files]));
  },
  /** The files holding tests whose full names match Jest's `testNamePattern`; undefined when none is known. */
  filesMatching(testNamePattern) {
    if (files.size === 0 && fs.existsSync(FILE))
      for (const [name, file] of JSON.parse(fs.readFileSync(FILE, 'utf8'))) files.set(name, file);
    const pattern = new RegExp(testNamePattern, 'i');
    const matching = new Set();
    for (const [name, paths] of files) if (pattern.test(name)) for (const file of paths) matching.add(file);
    return matching.size > 0 ? matching : undefined;
  },
};
