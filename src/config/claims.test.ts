import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url);

/** The rows of the table in docs/claims.md: claim, where it is stated, what proves it. */
export function parseClaims(md: string): Array<{ line: number; claim: string; source: string; proof: string }> {
  const rows: Array<{ line: number; claim: string; source: string; proof: string }> = [];
  md.split('\n').forEach((text, i) => {
    if (!text.startsWith('|') || /^\|\s*(claim|---)/.test(text)) return;
    // Cells are split on " | " so a `\|` inside a cell does not end it.
    const cells = text
      .replace(/^\|\s?/, '')
      .replace(/\s?\|\s*$/, '')
      .split(/\s\|\s/)
      .map((c) => c.trim());
    rows.push({ line: i + 1, claim: cells[0] ?? '', source: cells[1] ?? '', proof: cells[2] ?? '' });
  });
  return rows;
}

/** '' when the proof cell is well formed and names a test that exists, else why not. */
export function checkProof(proof: string, readTest: (path: string) => string | null): string {
  if (/^not yet\b/.test(proof)) return '';
  const m = /^`([^`]+)` — (.+)$/.exec(proof);
  if (!m) return `proof must be "\`<file>\` — <test name>" or start with "not yet", got "${proof}"`;
  const text = readTest(m[1]);
  if (text === null) return `test file ${m[1]} does not exist`;
  if (!text.includes(m[2])) return `no test named "${m[2]}" in ${m[1]}`;
  return '';
}

test('docs/claims.md: every claim names a test that exists in the tree, or says "not yet"', () => {
  const rows = parseClaims(readFileSync(new URL('docs/claims.md', root), 'utf8'));
  assert.ok(rows.length >= 40, `the table has ${rows.length} rows`);
  const readTest = (path: string) => {
    const url = new URL(path, root);
    return existsSync(url) ? readFileSync(url, 'utf8') : null;
  };
  const problems = rows.flatMap((r) => {
    const why = !r.claim
      ? 'no claim'
      : !r.source
        ? 'no source'
        : !r.proof
          ? 'no test named'
          : checkProof(r.proof, readTest);
    return why ? [`docs/claims.md:${r.line}: ${why}`] : [];
  });
  assert.deepEqual(problems, []);
});

test('the claims check fails a row without a test, with a missing file, or with a test name not in the file', () => {
  const files: Record<string, string> = { 'src/a.test.ts': "test('does the thing', () => {});" };
  const read = (p: string) => files[p] ?? null;
  assert.equal(checkProof('`src/a.test.ts` — does the thing', read), '');
  assert.equal(checkProof('not yet (planned)', read), '');
  assert.match(checkProof('', read), /must be/);
  assert.match(checkProof('works, trust me', read), /must be/);
  assert.match(checkProof('`src/b.test.ts` — does the thing', read), /does not exist/);
  assert.match(checkProof('`src/a.test.ts` — does another thing', read), /no test named/);
  const rows = parseClaims('| claim | stated in | proven by |\n| --- | --- | --- |\n| x | README.md |  |\n');
  assert.deepEqual(
    rows.map((r) => r.proof),
    [''],
  );
});
