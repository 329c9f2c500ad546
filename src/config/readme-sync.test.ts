import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { settings } from './settings.js';

test('README.md documents every kiln serve setting', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const missing = settings.map((s) => s.name).filter((n) => !readme.includes(`\`${n}\``));
  assert.deepEqual(missing, []);
});
