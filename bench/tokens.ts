// Token counting speed, o200k_base: our encoder vs js-tiktoken vs gpt-tokenizer vs tiktoken (WASM), side by side in one run.
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import type * as TiktokenWasm from 'tiktoken';
import { getEncoder } from '../lib/tokens/encoder';
import { cjkWithEmoji, randomLetters, readmeProse, typescriptLibCode } from '../test/tokens/corpus';

const LIBRARIES = ['ours', 'js-tiktoken', 'gpt-tokenizer', 'tiktoken'] as const;
type Library = (typeof LIBRARIES)[number];

const MB = 1 << 20;
const HOSTILE_TIMEOUT_MS = 20_000;

interface Case {
  name: string;
  /** The text of a run: the same every run, unless `fresh`. */
  text: (run: number) => string;
  /** Each run counts a text no run has counted before, so that no library's cache of pieces helps it. */
  fresh?: boolean;
  /** Judge the text against this many tokens instead of counting it all. */
  limit?: number;
  /** Quadratic in the other libraries: run each alone, under HOSTILE_TIMEOUT_MS. */
  hostile?: boolean;
}

const CASES: Case[] = [
  { name: '1 MB prose (package READMEs)', text: () => readmeProse(MB) },
  { name: '1 MB code (TypeScript lib .d.ts)', text: () => typescriptLibCode(MB) },
  { name: '200 KB CJK + emoji', text: () => cjkWithEmoji(68_000, 3) },
  { name: '200 KB CJK + emoji, a new text each run', text: (run) => cjkWithEmoji(68_000, 100 + run), fresh: true },
  { name: "'a'.repeat(200000)", text: () => 'a'.repeat(200_000), hostile: true },
  { name: '200 KB random a–z', text: () => randomLetters(200_000, 4), hostile: true },
  { name: '1 MB prose, ≤ 4,000 tokens?', text: () => readmeProse(MB), limit: 4_000 },
  { name: '256 KB prose, ≤ 4,000 tokens?', text: () => readmeProse(MB / 4), limit: 4_000 },
  { name: '1 MB random a–z, ≤ 10,000 tokens?', text: () => randomLetters(MB, 5), limit: 10_000, hostile: true },
];

/** The part of gpt-tokenizer's API we time (its types do not resolve under this project's node10 resolution). */
interface GptTokenizer {
  countTokens(text: string, options: SpecialTokenOptions): number;
  isWithinTokenLimit(text: string, limit: number, options: SpecialTokenOptions): false | number;
}

interface SpecialTokenOptions {
  /** Empty: special tokens in the text are counted as text, not refused. */
  disallowedSpecial: Set<string>;
}

type Count = (text: string, limit: number | undefined) => number | boolean;

/** Loads a library's o200k encoder and returns how it counts, or judges when given a limit. */
function load(library: Library): Count {
  switch (library) {
    case 'ours': {
      const encoder = getEncoder('o200k_base');
      return (text, limit) => (limit === undefined ? encoder.count(text) : encoder.countUpTo(text, limit) <= limit);
    }
    case 'js-tiktoken': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const tiktoken = new Tiktoken(require('js-tiktoken/ranks/o200k_base') as TiktokenBPE);
      // No early exit: judging is a full encode.
      return (text, limit) => {
        const count = tiktoken.encode(text, [], []).length;
        return limit === undefined ? count : count <= limit;
      };
    }
    case 'gpt-tokenizer': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const gpt = require('gpt-tokenizer/encoding/o200k_base') as GptTokenizer;
      const asText = { disallowedSpecial: new Set<string>() };
      return (text, limit) =>
        limit === undefined ? gpt.countTokens(text, asText) : gpt.isWithinTokenLimit(text, limit, asText) !== false;
    }
    case 'tiktoken': {
      // The Rust core in WASM, loaded here so that its module counts in its build cost; never freed.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const wasm = (require('tiktoken') as typeof TiktokenWasm).get_encoding('o200k_base');
      return (text, limit) => {
        const count = wasm.encode_ordinary(text).length;
        return limit === undefined ? count : count <= limit;
      };
    }
  }
}

interface Timing {
  ms: number;
  runs: number;
  answer: number | boolean;
}

type Outcome = Timing | 'timed out' | 'crashed';

/**
 * Median CPU time of a warm-up-then-repeat loop; a run over 2 s is reported alone.
 * CPU time, not wall time: on a machine shared with other jobs a run's wall time
 * grows with their load, its CPU time hardly (on an idle machine they are the same).
 * The answer is the first run's, the one every library gives for the same text.
 */
function time(count: Count, c: Case): Timing {
  const times: number[] = [];
  const answers: Array<number | boolean> = [];
  const started = performance.now();
  const sameText = c.fresh ? '' : c.text(0);
  do {
    const text = c.fresh ? c.text(times.length) : sameText;
    const cpu = process.cpuUsage();
    answers.push(count(text, c.limit));
    const used = process.cpuUsage(cpu);
    times.push((used.user + used.system) / 1000);
  } while (times[0]! < 2_000 && times.length < 8 && (times.length < 4 || performance.now() - started < 4_000));
  const measured = times.length > 1 ? times.slice(1) : times;
  measured.sort((a, b) => a - b);
  return { ms: measured[measured.length >> 1]!, runs: measured.length, answer: answers[0]! };
}

interface BuildCost {
  ms: number;
  mb: number;
}

/** Build time and retained memory (JS heap + typed arrays) of a library's encoder, in a fresh process. */
function measureBuild(library: Library): BuildCost {
  const gc = globalThis.gc!;
  const used = () => {
    gc();
    const memory = process.memoryUsage();
    return memory.heapUsed + memory.arrayBuffers;
  };
  const before = used();
  const started = performance.now();
  const count = load(library);
  const ms = performance.now() - started;
  count('warm', undefined);
  return { ms, mb: (used() - before) / 1e6 };
}

type Job = { kind: 'build'; library: Library } | { kind: 'cases'; library: Library; cases: number[] };

// A child measures one job and sends its result back; the parent only orchestrates.
if (process.argv[2] === 'child') {
  const job = JSON.parse(process.argv[3]!) as Job;
  if (job.kind === 'build') {
    process.send!(measureBuild(job.library));
  } else {
    const count = load(job.library);
    process.send!(job.cases.map((index) => time(count, CASES[index]!)));
  }
} else {
  void main();
}

/** Runs a job in a child process; a crash is retried once (tiktoken's WASM now and then panics with `unreachable`). */
async function runChild<T>(job: Job, timeoutMs: number): Promise<T | 'timed out' | 'crashed'> {
  const first = await runChildOnce<T>(job, timeoutMs);
  return first === 'crashed' ? runChildOnce<T>(job, timeoutMs) : first;
}

function runChildOnce<T>(job: Job, timeoutMs: number): Promise<T | 'timed out' | 'crashed'> {
  return new Promise((resolve) => {
    const child = fork(__filename, ['child', JSON.stringify(job)], {
      execArgv: [...process.execArgv, '--expose-gc'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timed out');
    }, timeoutMs);
    child.once('message', (result) => {
      clearTimeout(timer);
      resolve(result as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0 && code !== null) {
        console.error(`${job.library} child exited with ${code}: ${JSON.stringify(job)}`);
        resolve('crashed');
      }
    });
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`token counting, o200k_base — node ${process.version}, ${cpus().length} CPUs`);
  console.log('median CPU ms of up to 7 warm runs; each library and case in its own process\n');

  const builds = new Map<Library, BuildCost | 'timed out' | 'crashed'>();
  for (const library of LIBRARIES) builds.set(library, await runChild<BuildCost>({ kind: 'build', library }, 60_000));

  const outcomes = new Map<string, Outcome>();
  const key = (library: Library, index: number) => `${library}:${index}`;
  for (const library of LIBRARIES) {
    for (const [index, c] of CASES.entries()) {
      const timings = await runChild<Timing[]>(
        { kind: 'cases', library, cases: [index] },
        c.hostile ? HOSTILE_TIMEOUT_MS : 120_000,
      );
      outcomes.set(key(library, index), typeof timings === 'string' ? timings : timings[0]!);
    }
  }

  const rows = [
    ['case', ...LIBRARIES.map((library) => `${library} ms`), 'ours vs js-tiktoken', 'ours vs gpt-tokenizer', 'ours vs tiktoken'],
  ];
  CASES.forEach((c, index) => {
    const [ours, jsTiktoken, gpt, wasm] = LIBRARIES.map((library) => outcomes.get(key(library, index))!);
    rows.push([
      c.limit === undefined ? c.name : `${c.name} ¹`,
      ...[ours!, jsTiktoken!, gpt!, wasm!].map(formatOutcome),
      ratio(jsTiktoken!, ours!),
      ratio(gpt!, ours!),
      ratio(wasm!, ours!),
    ]);
  });
  const buildCosts = LIBRARIES.map((library) => builds.get(library)!);
  rows.push(['encoder build (fresh process)', ...buildCosts.map((b) => formatBuild(b, 'ms')), '', '', '']);
  rows.push(['encoder memory, MB', ...buildCosts.map((b) => formatBuild(b, 'mb')), '', '', '']);
  printTable(rows);

  console.log('\n¹ js-tiktoken and tiktoken have no early exit: judging is a full encode.');
  for (const [index, c] of CASES.entries()) {
    const answers = new Set(LIBRARIES.flatMap((library) => answerOf(outcomes.get(key(library, index))!)));
    if (answers.size > 1) console.log(`DISAGREEMENT on ${c.name}: ${[...answers].join(' vs ')}`);
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

function answerOf(outcome: Outcome): Array<number | boolean> {
  return typeof outcome === 'string' ? [] : [outcome.answer];
}

function formatOutcome(outcome: Outcome): string {
  if (outcome === 'crashed') return 'crashed twice';
  if (outcome === 'timed out') return `> ${HOSTILE_TIMEOUT_MS / 1000} s (timed out)`;
  return outcome.ms.toFixed(outcome.ms >= 100 ? 0 : outcome.ms >= 1 ? 1 : 2);
}

function formatBuild(build: BuildCost | 'timed out' | 'crashed', field: keyof BuildCost): string {
  return typeof build === 'string' ? build : build[field].toFixed(field === 'ms' ? 0 : 1);
}

/** How many times faster `outcome` is than `baseline`. */
function ratio(baseline: Outcome, outcome: Outcome): string {
  if (baseline === 'crashed' || outcome === 'crashed') return '—';
  if (outcome === 'timed out') return baseline === 'timed out' ? '—' : 'slower';
  const baseMs = baseline === 'timed out' ? HOSTILE_TIMEOUT_MS : baseline.ms;
  const times = baseMs / outcome.ms;
  if (times >= 10_000) return '> 10,000×';
  return `${baseline === 'timed out' ? '> ' : ''}${times.toFixed(times >= 10 ? 0 : 1)}×`;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(
    `|${widths.map((width, column) => (column === 0 ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
  );
  for (const row of rows.slice(1)) console.log(line(row));
}
