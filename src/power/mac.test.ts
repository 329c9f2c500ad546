import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeMac, normalizeMacs } from './mac.js';

describe('normalizeMac', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['colon upper', '12:44:6A:3B:04:11', '12:44:6a:3b:04:11'],
    ['dash', '12-44-6a-3b-04-11', '12:44:6a:3b:04:11'],
    ['cisco dots', '1244.6a3b.0411', '12:44:6a:3b:04:11'],
    ['bare', '12446A3B0411', '12:44:6a:3b:04:11'],
    ['mixed separators', '12:44-6a:3b:04:11', undefined],
    ['all zeros', '00:00:00:00:00:00', undefined],
    ['too short', '12:44:6a:3b:04', undefined],
    ['empty', '', undefined],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(normalizeMac(input), want));
  it('de-duplicates and sorts', () => {
    assert.deepEqual(normalizeMacs(['BB:00:00:00:00:01', 'aa:00:00:00:00:01', 'bb-00-00-00-00-01', 'junk']), [
      'aa:00:00:00:00:01',
      'bb:00:00:00:00:01',
    ]);
  });
});
