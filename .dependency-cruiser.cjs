// dependency-cruiser: Kiln's import rules (run by scripts/checks.mjs, `npm run lint`).
// Folder-level cycles between domains (src/<domain>) are checked by scripts/check-folder-cycles.mjs
// over this tool's JSON output: dependency-cruiser's own folder scope looks at every nested folder,
// not at a domain as a whole.
//
// Words used below:
// - composition root: src/main.ts (the server) and src/controller.ts (what it wires); src/cli/ is the
//   other binary's root.
// - test code: *.test.ts, *.conformance.ts (suites run by tests), *.scenario.ts, testdata/ and testing/ folders.
// - store file: a domain's SQL and storage code: sql-*.ts, *-store.ts, *-tables.ts.

const TEST = ['\\.test\\.ts$', '\\.conformance\\.ts$', '\\.scenario\\.ts$', '/testdata/', '/testing/'];
const ROOT = '^src/(main|controller)\\.ts$';
const STORE = '^src/.+/(sql-[^/]+|[^/]+-store|[^/]+-tables)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module-level import cycle: break it by moving the shared piece to the side it belongs to.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-foreign-store',
      severity: 'error',
      comment:
        "A domain's store (sql-*, *-store, *-tables) is used only by its own domain, src/store/, the composition " +
        "root and tests; other domains call the domain's service.",
      from: { path: '^src/([^/]+)/', pathNot: [...TEST, '^src/store/', '^src/cli/'] },
      to: { path: STORE, pathNot: '^src/$1/' },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      comment:
        'Test code (tests, conformance suites, scenarios, testdata/, testing/) is not imported by non-test code.',
      from: { path: '^src/', pathNot: TEST },
      to: { path: TEST },
    },
    {
      name: 'no-composition-root',
      severity: 'error',
      comment:
        "Only src/main.ts and the CLI (src/cli/) import the composition root, and the root's own tests beside it " +
        "(src/*.test.ts); a domain's tests build what they need.",
      from: { path: '^src/', pathNot: ['^src/main\\.ts$', '^src/cli/', '^src/[^/]+\\.test\\.ts$'] },
      to: { path: ROOT },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve (a typo or a missing dependency).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '^dist/', '^native/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: false,
  },
};
