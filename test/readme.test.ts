// README.md and docs/ stay true: every ```ts block type-checks on its own against lib/, every table of codes matches
// the code, and every link leads to a file of the repository (and a heading of it, for an #anchor).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { markdownFiles, readDocs, ROOT } from './helpers/docs';

/** Inside the repo, so that `express`, `openai`, `redis`… resolve from its node_modules; a dot folder, so tsc's `include` skips it. */
const BLOCKS_ROOT = path.join(ROOT, 'test', '.readme-blocks');
const BLOCKS_DIR = path.join(BLOCKS_ROOT, String(process.pid));

interface CodeBlock {
  /** The markdown file, relative to the repository. */
  file: string;
  /** 1-based line in that file of the block's first line of code. */
  line: number;
  code: string;
  /** ```ts fragment: deliberately incomplete, not checked. */
  fragment: boolean;
}

/** The ```ts / ```typescript blocks of a markdown text. */
export function typeScriptBlocks(markdown: string, file: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((text, j) => j > i && /^```\s*$/.test(text));
    if (end === -1) throw new Error(`${file}:${i + 1}: a code block is never closed`);
    if (open[1] === 'ts' || open[1] === 'typescript') {
      blocks.push({ file, line: i + 2, code: lines.slice(i + 1, end).join('\n'), fragment: /\bfragment\b/.test(open[2]!) });
    }
    i = end;
  }
  return blocks;
}

/** The anchors GitHub and npm give the headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, text] of withoutCode.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = text!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    let anchor = slug;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${slug}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** The repo's compiler options, with the package name resolved to lib/ as a user's project resolves it to the package. */
function compilerOptions(): ts.CompilerOptions {
  const configFile = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  if (configFile.error) throw new Error(ts.flattenDiagnosticMessageText(configFile.error.messageText, '\n'));
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, ROOT);
  return {
    ...options,
    // A snippet may show a value it does not use, or a handler parameter it ignores.
    noUnusedLocals: false,
    noUnusedParameters: false,
    // Every block is a module of its own, even one without imports.
    moduleDetection: ts.ModuleDetectionKind.Force,
    // An app's project: Node's types, not Jest's globals.
    types: ['node'],
    paths: {
      'token-budget': [path.join(ROOT, 'lib', 'index.ts')],
      'token-budget/testing': [path.join(ROOT, 'lib', 'testing', 'index.ts')],
      'token-budget/koa': [path.join(ROOT, 'lib', 'koa', 'index.ts')],
      'token-budget/store': [path.join(ROOT, 'lib', 'store', 'index.ts')],
    },
    noEmit: true,
  };
}

/** A compiler host that parses each file outside the blocks once for all the programs. */
function cachingHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options, true);
  const parse = host.getSourceFile.bind(host);
  const parsed = new Map<string, ts.SourceFile | undefined>();
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    if (fileName.startsWith(BLOCKS_DIR)) return parse(fileName, languageVersion, onError, shouldCreate);
    if (!parsed.has(fileName)) parsed.set(fileName, parse(fileName, languageVersion, onError, shouldCreate));
    return parsed.get(fileName);
  };
  return host;
}

/** The block's diagnostics as `file:line:column message`, lines counted in its markdown file. */
function checkBlock(block: CodeBlock, fileName: string, options: ts.CompilerOptions, host: ts.CompilerHost): string[] {
  const program = ts.createProgram({ rootNames: [fileName], options, host });
  const file = program.getSourceFile(fileName)!;
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(file),
    ...program.getSemanticDiagnostics(file),
  ];
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n    ');
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) {
      return `${diagnostic.file?.fileName ?? '(options)'}: TS${diagnostic.code} ${message}`;
    }
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${block.file}:${block.line + line}:${character + 1} TS${diagnostic.code} ${message}`;
  });
}

const pages = markdownFiles().map((file) => ({ file: path.relative(ROOT, file), text: readFileSync(file, 'utf8') }));
const blocks = pages.flatMap((page) => typeScriptBlocks(page.text, page.file));
const checked = blocks.filter((block) => !block.fragment);
const docs = readDocs();

/** The anchors of each markdown file's headings, by absolute path, read once. */
const anchorsOf = new Map<string, Set<string>>();
function anchorsIn(file: string): Set<string> {
  if (!anchorsOf.has(file)) anchorsOf.set(file, headingAnchors(readFileSync(file, 'utf8')));
  return anchorsOf.get(file)!;
}

describe('README.md and docs/', () => {
  const options = compilerOptions();
  const host = cachingHost(options);
  const files = new Map<CodeBlock, string>();

  beforeAll(() => {
    mkdirSync(BLOCKS_DIR, { recursive: true });
    for (const block of checked) {
      const fileName = path.join(BLOCKS_DIR, `${block.file.replace(/[/.]/g, '-')}-line-${block.line}.ts`);
      writeFileSync(fileName, block.code);
      files.set(block, fileName);
    }
  });

  afterAll(() => {
    rmSync(BLOCKS_DIR, { recursive: true, force: true });
    // Another run may still be using the parent folder.
    if (readdirSync(BLOCKS_ROOT).length === 0) rmdirSync(BLOCKS_ROOT);
  });

  test('has the pages, TypeScript blocks to check, and few fragments', () => {
    expect(pages.length).toBeGreaterThanOrEqual(20);
    expect(checked.length).toBeGreaterThanOrEqual(8);
    expect(blocks.length - checked.length).toBeLessThanOrEqual(2);
  });

  test('README.md is a front page: at most 250 lines, with the Quick start', () => {
    const readme = pages.find((page) => page.file === 'README.md')!.text;
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    expect(readme).toContain('\n## Quick start\n');
  });

  test("README.md shows the two commands, and CI runs exactly the README's test command", () => {
    const readme = pages.find((page) => page.file === 'README.md')!.text;
    const shown = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].flatMap(([, block]) =>
      block!.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()),
    );
    expect(shown).toEqual(expect.arrayContaining(['npm install && npm start', 'npm test']));
    const ci = readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')
      .trim()
      .split('\n');
    expect(ci.slice(-2)).toEqual(['npm ci', 'npm test']);
  });

  test.each(checked.map((block) => [`${block.file}:${block.line}`, block] as const))(
    'the ts block at %s type-checks on its own',
    (_where, block) => {
      const diagnostics = checkBlock(block, files.get(block)!, options, host);
      if (diagnostics.length > 0) {
        const numbered = block.code
          .split('\n')
          .map((text, i) => `${String(block.line + i).padStart(5)} | ${text}`)
          .join('\n');
        throw new Error(
          `${block.file} block at line ${block.line} does not compile:\n  ${diagnostics.join('\n  ')}\n\n${numbered}`,
        );
      }
    },
  );

  test('documents every TB_ code and every error type the code can give', () => {
    const sources = readdirSync(path.join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(path.join(ROOT, 'lib', file), 'utf8'))
      .join('\n');
    const codes = new Set([...sources.matchAll(/'(TB_[A-Z_]+)'/g)].map((match) => match[1]!));
    const statuses = readFileSync(path.join(ROOT, 'lib', 'refusal.ts'), 'utf8').match(/const STATUS[^=]*= \{([^}]*)\}/)![1]!;
    const types = [...statuses.matchAll(/(\w+): (\d{3}),/g)].map(([, type, status]) => ({ type: type!, status: status! }));
    expect(codes.size).toBeGreaterThan(15);
    expect(types.length).toBeGreaterThan(10);
    expect([...codes].filter((code) => !docs.includes(`\`${code}\``))).toEqual([]);
    // A row of the error table: | cause | status (+ Retry-After …) | `type` |
    const inErrorTable = ({ type, status }: { type: string; status: string }) =>
      new RegExp(`^\\|[^|\\n]*\\| *${status}\\b[^|\\n]*\\| *\`${type}\` *\\|`, 'm').test(docs);
    expect(types.filter((row) => !inErrorTable(row))).toEqual([]);
  });

  test.each(pages.map((page) => [page.file, page] as const))(
    'the links of %s stay inside the repository and lead to a file and a heading',
    (_file, page) => {
      const from = path.join(ROOT, page.file);
      const withoutCode = page.text.replace(/^```[\s\S]*?^```/gm, '');
      const targets = [...withoutCode.matchAll(/\]\(([^)\s]+)[^)]*\)/g)].map((match) => match[1]!);
      const broken = targets.filter((target) => {
        if (/^https?:/.test(target)) return false;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? from : path.resolve(path.dirname(from), file);
        if (!resolved.startsWith(ROOT + path.sep) || !existsSync(resolved)) return true;
        return anchor !== undefined && (!resolved.endsWith('.md') || !anchorsIn(resolved).has(anchor));
      });
      expect(broken).toEqual([]);
    },
  );
});
