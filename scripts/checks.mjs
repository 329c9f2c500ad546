#!/usr/bin/env node
// Kiln's static checks, one ✔/✖ line each in this order (with the tool's own
// report under a ✖): the format (prettier --check), the lint (ESLint over
// src/, type-aware: no `any` outside a documented boundary file), the import
// rules (dependency-cruiser with .dependency-cruiser.cjs, then
// scripts/check-folder-cycles.mjs: no cycle between the domains under src/),
// and dead code (knip: unused files, exports and dependencies).
// `npm run lint` runs this; `npm test` runs it as one counted check.
// Usage: checks.mjs [format|eslint|imports|knip ...]   (default: all four)
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (pkg, path) => join(root, 'node_modules', pkg, path);

/** Runs a node script, collecting its output; `input` is written to its stdin. */
function run(args, input) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.stdin.end(input ?? '');
    child.on('error', (e) => resolve({ code: 1, out, err: `${err}${e.message}\n` }));
    child.on('close', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

const checks = {
  format: {
    title: 'format (prettier --check .)',
    fix: 'npx prettier --write <file>',
    async run() {
      const r = await run([bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '.']);
      return { ok: r.code === 0, report: r.out + r.err };
    },
  },
  eslint: {
    title: 'lint (eslint src)',
    fix: 'npx eslint <file>; fix the code, not the rule',
    async run() {
      const r = await run([
        bin('eslint', 'bin/eslint.js'),
        '--cache',
        '--cache-location',
        join(root, 'node_modules/.cache/eslint/'),
        'src',
      ]);
      return { ok: r.code === 0, report: r.out + r.err };
    },
  },
  imports: {
    title: 'imports (dependency-cruiser; no cycle between domains)',
    fix: 'see the rule comments in .dependency-cruiser.cjs',
    async run() {
      const r = await run([
        bin('dependency-cruiser', 'bin/dependency-cruise.mjs'),
        'src',
        '--config',
        '.dependency-cruiser.cjs',
        '--output-type',
        'json',
      ]);
      let result;
      try {
        result = JSON.parse(r.out);
      } catch {
        return { ok: false, report: r.out + r.err };
      }
      const lines = result.summary.violations.map((v) => {
        const path = v.cycle ? [v.from, ...v.cycle.map((c) => c.name ?? c)].join(' → ') : `${v.from} → ${v.to}`;
        return `  ${v.rule.severity} ${v.rule.name}: ${path}`;
      });
      const errors = result.summary.error;
      const folders = await run([join(root, 'scripts/check-folder-cycles.mjs')], r.out);
      const report = [...lines, ...(folders.code === 0 ? [] : [folders.out + folders.err])].join('\n');
      return { ok: errors === 0 && folders.code === 0, report: `${report}\n` };
    },
  },
  knip: {
    title: 'dead code (knip)',
    fix: 'delete or unexport what nothing uses; remove unused dependencies with npm uninstall',
    async run() {
      const r = await run([bin('knip', 'bin/knip.js'), '--no-progress']);
      return { ok: r.code === 0, report: r.out + r.err };
    },
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in checks));
if (unknown.length > 0) {
  console.error(`unknown check ${unknown.join(', ')}; the checks are ${Object.keys(checks).join(', ')}`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : Object.keys(checks);
const failed = [];
const started = performance.now();
// ESLint (type-aware, the longest) runs beside the others, which run one after another: two cores
// finish in about the time of ESLint alone. Results print in the order above.
const timed = async (name) => {
  const t = performance.now();
  const result = await checks[name].run();
  return { ...result, secs: ((performance.now() - t) / 1000).toFixed(1) };
};
const results = new Map();
let previous = Promise.resolve();
for (const name of names) {
  if (name === 'eslint') results.set(name, timed(name));
  else results.set(name, (previous = previous.then(() => timed(name))));
}
for (const name of names) {
  const { ok, report, secs } = await results.get(name);
  const c = checks[name];
  if (ok) console.log(`✔ ${c.title} (${secs} s)`);
  else {
    failed.push(name);
    console.log(`✖ ${c.title} (${secs} s)\n${report.trimEnd()}\n  fix: ${c.fix}`);
  }
}
const total = ((performance.now() - started) / 1000).toFixed(1);
if (failed.length === 0) console.log(`checks: all ${names.length} passed in ${total} s`);
else
  console.log(
    `checks: ${failed.join(', ')} failed (${names.length - failed.length} of ${names.length} passed, ${total} s)`,
  );
process.exit(failed.length === 0 ? 0 : 1);
