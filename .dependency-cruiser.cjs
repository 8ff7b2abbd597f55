// dependency-cruiser: the layers of DESIGN §3 — imports point down only, no circles, frameworks only in their adapters.
/** The core: everything below the adapters, the admin router, the metrics, the CLI and the entry points. */
const CORE = '^lib/(?!(middleware|koa|admin|metrics|cli|testing)/|budget\\.ts$|index\\.ts$|public\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A folder is a layer and imports point down: a circle means two files are one idea or a type sits too high.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-upward',
      severity: 'error',
      comment: 'The core knows nothing of the adapters, the admin router, the metrics, the CLI or the entry points.',
      from: { path: CORE },
      to: { path: '^lib/((middleware|koa|admin|metrics|cli)/|budget\\.ts$|index\\.ts$|public\\.ts$)' },
    },
    {
      name: 'bottom-layers-down',
      severity: 'error',
      comment: 'Counting, pricing and the stores sit under the budget context, the flags, degrading and the steps that use them.',
      from: { path: '^lib/(tokens|pricing|store)/' },
      to: { path: '^lib/((degrade|stream|flags|alerts|plan|steps|http|responses)/|(context|config|budget|observers)\\.ts$)' },
    },
    {
      name: 'core-framework-free',
      severity: 'error',
      comment: 'Express appears only in middleware/ and admin/, Koa only in koa/.',
      from: { path: CORE },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-peer', 'npm-optional'],
        path: '(^|/)node_modules/(express|koa|@koa|@types/(express|koa))/',
      },
    },
    {
      name: 'express-only-in-its-adapter',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/(middleware|admin)/' },
      to: { path: '(^|/)node_modules/(express|@types/express)/' },
    },
    {
      name: 'koa-only-in-its-adapter',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/koa/' },
      to: { path: '(^|/)node_modules/(koa|@koa|@types/koa)/' },
    },
    {
      name: 'types-only-declare',
      severity: 'error',
      comment: 'lib/types.ts is the bottom layer of public types: it imports types only, never run-time code.',
      from: { path: '^lib/types\\.ts$' },
      to: { dependencyTypesNot: ['type-only', 'type-import'] },
    },
    {
      name: 'koa-entry-loads-no-express',
      severity: 'error',
      comment: "Nothing of Express is loaded by 'token-budget/koa'.",
      from: { path: '^lib/koa/index\\.ts$' },
      to: { path: '^lib/middleware/|(^|/)node_modules/express/', reachable: true },
    },
    {
      name: 'express-entry-loads-no-koa',
      severity: 'error',
      comment: "Nothing of Koa is loaded by 'token-budget'.",
      from: { path: '^lib/index\\.ts$' },
      to: { path: '^lib/koa/|(^|/)node_modules/koa/', reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.json$' },
  },
};
