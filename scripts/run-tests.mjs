#!/usr/bin/env node
// Runs Kiln's test suite with node:test; test files run through tsx.
// Unit tests (*.test.ts) run two files at a time; integration tests
// (*.int.test.ts: real sockets, namespaces, databases, QEMU) run one file at a
// time. Node 20's `--test` finds no .ts files by itself, so files are listed
// here. Prints one closing line "N passed, N failed, N skipped".
// The build runs first (`npm run build`: tsc typechecks the whole tree and
// emits dist/, which every spawned `kiln` runs through bin/kiln.mjs), counted
// as one test. --no-typecheck still emits dist/ but skips the check (tsc
// --noCheck; quick, for chosen files); --no-build skips the build entirely.
// The static checks (scripts/checks.mjs: format, lint, import rules, dead code) follow
// as one test, unless files are filtered or --no-lint is given.
// Usage: run-tests.mjs [--unit|--int] [--no-typecheck|--no-build] [--no-lint] [path-substring ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.includes('--unit') ? 'unit' : args.includes('--int') ? 'int' : 'all';
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const all = ['src', 'test', 'bench']
  .flatMap((d) => {
    try {
      return walk(join(root, d), []);
    } catch {
      return [];
    }
  })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
const unit = all.filter((f) => !f.endsWith('.int.test.ts'));
const int = all.filter((f) => f.endsWith('.int.test.ts'));

function run(files, concurrency) {
  if (files.length === 0) return Promise.resolve({ pass: 0, fail: 0, skip: 0, code: 0 });
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KILN_TEST: '1' } },
    );
    // The reporter's closing counts ("ℹ pass N"), wherever they fall: a long list of failures follows them.
    let partial = '';
    const counts = {};
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = line.match(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/);
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => {
      const n = (k) => counts[k] ?? 0;
      resolve({ pass: n('pass'), fail: n('fail') + n('cancelled'), skip: n('skipped') + n('todo'), code: code ?? 1 });
    });
  });
}

// The whole tree must typecheck (tsx runs without checking types) and build; counted as one test.
function build(check) {
  const what = check ? 'build (tsc: typecheck and emit dist/)' : 'build (tsc --noCheck: emit dist/)';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'scripts/build.mjs'), ...(check ? [] : ['--noCheck'])], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => {
      if (code === 0) console.log(`✔ ${what}`);
      else console.log(`✖ ${what}\n${out}`);
      resolve({ pass: code === 0 ? 1 : 0, fail: code === 0 ? 0 : 1, skip: 0, code: code ?? 1 });
    });
  });
}

// Format, lint, import rules, dead code (scripts/checks.mjs prints its own ✔/✖ lines); counted as one test.
function checks() {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'scripts/checks.mjs')], { cwd: root, stdio: 'inherit' });
    child.on('close', (code) =>
      resolve({ pass: code === 0 ? 1 : 0, fail: code === 0 ? 0 : 1, skip: 0, code: code ?? 1 }),
    );
  });
}

const results = [];
if (!args.includes('--no-build')) results.push(await build(!args.includes('--no-typecheck')));
if (filters.length === 0 && !args.includes('--no-lint')) results.push(await checks());
if (only !== 'int') results.push(await run(unit, 2));
if (only !== 'unit') results.push(await run(int, 1));
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
const failed = results.some((r) => r.code !== 0) || sum('fail') > 0;
console.log(`\n${sum('pass')} passed, ${sum('fail')} failed, ${sum('skip')} skipped`);
if (sum('pass') === 0) {
  console.error('no test ran');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
