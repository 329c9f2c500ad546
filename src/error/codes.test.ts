import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes } from './codes.js';

test('docs/errors.md lists exactly the codes in codes.ts, with the same status', () => {
  const md = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map([...md.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
  const inCode = new Map(Object.entries(errorCodes).map(([k, v]) => [k, v.status]));
  assert.deepEqual([...documented.keys()].sort(), [...inCode.keys()].sort());
  for (const [k, status] of inCode) assert.equal(documented.get(k), status, `status of ${k}`);
});
