// `npm run test:mutation:scores [-- --files]`: the mutation score of each part of lib/, read from the committed incremental files.
// Score = (killed + timed out) / (all − ignored − compile and runtime errors), Stryker's own. A file scored in a run of the
// whole mutation suite (reports/mutation/incremental.json) is taken from there; one scored only in a focused run
// (reports/mutation/focused/*.json, see jest.mutation.config.js) from that run. "changed" marks a file whose source
// differs from the one scored: its figure is that of an earlier version. A file scored in parts, one run per range of
// its lines (`--mutate 'lib/context.ts:1-504'`, then `:505-880`), is scored as the union of those runs' mutants.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const REPORTS = new URL('../reports/mutation/', import.meta.url);
const UNSCORED = new Set(['Ignored', 'CompileError', 'RuntimeError']);
const COLUMNS = ['Killed', 'Timeout', 'Survived', 'NoCoverage'];

const read = (url) => JSON.parse(readFileSync(url, 'utf8')).files;
const focusedDir = new URL('focused/', REPORTS);
const focused = existsSync(focusedDir)
  ? readdirSync(focusedDir)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => ({ run: `focused/${name}`, files: read(new URL(name, focusedDir)) }))
  : [];
const runs = [{ run: 'whole suite', files: read(new URL('incremental.json', REPORTS)) }, ...focused];

/** A mutant's identity across runs: Stryker's ids are numbered anew by each run, its place and change are not. */
const mutantKey = ({ mutatorName, replacement, location: { start, end } }) =>
  `${start.line}:${start.column}-${end.line}:${end.column} ${mutatorName} ${replacement}`;

/**
 * File → the statuses of its mutants (by mutantKey), the runs they came from and the source they were scored on. The
 * first run that scored a file gives its figures (the whole suite's first); a later run of the same source adds the
 * mutants the first had not: a file scored in line ranges by separate runs adds up, while a run of a source since
 * changed stays out (its mutants are of other code).
 */
const results = new Map();
for (const { run, files } of runs) {
  for (const [file, { source, mutants }] of Object.entries(files)) {
    if (!existsSync(file) || !mutants.some(({ status }) => !UNSCORED.has(status))) continue;
    let result = results.get(file);
    if (!result) results.set(file, (result = { source, statuses: new Map(), runs: new Set() }));
    else if (result.source !== source) continue;
    let added = false;
    for (const mutant of mutants) {
      const key = mutantKey(mutant);
      if (result.statuses.has(key)) continue;
      result.statuses.set(key, mutant.status);
      added = true;
    }
    if (added) result.runs.add(run);
  }
}

/** File → its figures. */
const scored = new Map();
for (const [file, { source, statuses, runs: from }] of results) {
  const counts = Object.fromEntries(COLUMNS.map((status) => [status, 0]));
  let mutantsScored = 0;
  for (const status of statuses.values()) {
    if (UNSCORED.has(status)) continue;
    mutantsScored++;
    if (status in counts) counts[status]++;
  }
  scored.set(file, { runs: from, mutants: mutantsScored, ...counts, changed: readFileSync(file, 'utf8') !== source });
}

const partOf = (file) => {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : 'lib (root files)';
};
const score = ({ Killed, Timeout, mutants }) => `${((100 * (Killed + Timeout)) / mutants).toFixed(1)} %`;
const row = (cells) => `| ${cells.join(' | ')} |`;

const perFile = process.argv.includes('--files');
const groups = new Map();
for (const [file, figures] of [...scored].sort(([a], [b]) => a.localeCompare(b))) {
  const key = perFile ? file : partOf(file);
  const group = groups.get(key) ?? { mutants: 0, Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, runs: new Set(), changed: 0 };
  for (const column of ['mutants', ...COLUMNS]) group[column] += figures[column];
  for (const run of figures.runs) group.runs.add(run === 'whole suite' ? 'whole' : 'focused');
  if (figures.changed) group.changed++;
  groups.set(key, group);
}

console.log(
  row([
    perFile ? 'File' : 'Part',
    'Mutants',
    'Killed',
    'Timed out',
    'Survived',
    'No coverage',
    'Score',
    'Tests',
    'Changed since',
  ]),
);
console.log(row(['---', '--:', '--:', '--:', '--:', '--:', '--:', '---', '---']));
for (const [key, group] of groups) {
  const cells = [group.mutants, group.Killed, group.Timeout, group.Survived, group.NoCoverage].map(String);
  console.log(row([key, ...cells, score(group), [...group.runs].join(' + '), group.changed ? `${group.changed} file(s)` : '']));
}
const unscored = readdirSync('lib', { recursive: true })
  .map((name) => `lib/${name}`)
  .filter((file) => file.endsWith('.ts') && !scored.has(file));
console.log(`\nNo figure (types only, excluded by stryker.config.json, or not run yet): ${unscored.length} files`);
if (perFile) for (const file of unscored.sort()) console.log(`  ${file}`);
