// House rule: every socket error is logged, never swallowed. This scan fails on
// an empty `error` handler anywhere in src/ (outside tests), on a socket send
// whose callback drops its error, and on an empty `catch` around a send.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../', import.meta.url).pathname;
const EMPTY_FN = String.raw`(?:\(\s*[\w$]*\s*(?::\s*[\w.<>|]+)?\s*\)\s*=>\s*(?:\{\s*(?:\/\*[^*]*\*\/\s*|\/\/[^\n]*\n\s*)*\}|undefined|null|void 0)|[\w$]+\s*=>\s*\{\s*\}|function\s*[\w$]*\s*\([^)]*\)\s*\{\s*(?:\/\*[^*]*\*\/\s*)*\}|noop)`;
const rules: Array<{ name: string; re: RegExp }> = [
  {
    name: 'empty error handler',
    re: new RegExp(
      String.raw`\.(?:on|once|addListener|prependListener)\(\s*['"\`]error['"\`]\s*,\s*${EMPTY_FN}\s*\)`,
      'g',
    ),
  },
  { name: 'send callback that drops its error', re: new RegExp(String.raw`\.send\([^;]*?,\s*${EMPTY_FN}\s*\)`, 'g') },
];

/** Empty `catch` blocks (comments only) whose `try` block sends on a socket. */
function emptyCatchAroundSend(text: string): number[] {
  const hits: number[] = [];
  const re = /catch\s*(?:\([^)]*\))?\s*\{\s*(?:\/\*[^*]*\*\/\s*|\/\/[^\n]*\n\s*)*\}/g;
  for (const m of text.matchAll(re)) {
    const before = text.slice(0, m.index);
    const tryAt = before.lastIndexOf('try');
    if (tryAt >= 0 && /\.send\(/.test(before.slice(tryAt))) hits.push(m.index);
  }
  return hits;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|mjs|js)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [p] : [];
  });
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** Every violation in `text`, as `name:line`. */
function scan(text: string): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const m of text.matchAll(r.re)) {
      // A child process's stdin pipe (EPIPE when the tool exits before reading) is not a network socket; its exit reports the failure.
      if (/\.stdin$/.test(text.slice(Math.max(0, m.index - 12), m.index))) continue;
      out.push(`${r.name}:${lineOf(text, m.index)}`);
    }
  }
  for (const i of emptyCatchAroundSend(text)) out.push(`empty catch around a send:${lineOf(text, i)}`);
  return out;
}

test('the scan finds each form of a swallowed socket error', () => {
  const bad = [
    "sock.on('error', () => {});",
    'sock.once("error", (_e) => {});',
    "pool.on('error', () => undefined);",
    "s.on('error', function () {});",
    "s.on('error', noop);",
    "s.on('error', () => { /* ignore */ });",
    'sock.send(bytes, port, host, () => {});',
    "try { sock.send(b, 67, '255.255.255.255'); } catch { /* retried */ }",
  ];
  for (const b of bad) assert.equal(scan(b).length, 1, b);
  const good = [
    "sock.on('error', (err) => report(err, 'receive'));",
    'sock.send(bytes, port, host, (err) => report(err));',
    "try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }",
    "child.stdin.on('error', () => { /* its exit code tells */ });",
  ];
  for (const g of good) assert.deepEqual(scan(g), [], g);
});

test('no socket error is swallowed anywhere in src/', () => {
  const found = sources(root).flatMap((f) => scan(readFileSync(f, 'utf8')).map((v) => `${relative(root, f)}: ${v}`));
  assert.deepEqual(
    found,
    [],
    `log and count the error instead (see src/boot/socket-error-log.ts):\n${found.join('\n')}`,
  );
});
