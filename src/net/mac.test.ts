import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// The reported-MAC contract (all zeros is none) was power/mac.ts's normalizeMac; its cases are kept as they were.
import { parseReportedMac as normalizeMac, parseReportedMacs as normalizeMacs } from './mac.js';
import * as mac from './mac.js';
import { hasCode } from '../error/kiln-error.js';

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

describe('parseMac (shape only) and normalizeMac (request input)', () => {
  it('accepts the four spellings and all zeros; null for mixed separators or junk', () => {
    assert.equal(mac.parseMac(' 52-54-00-AB-CD-EF '), '52:54:00:ab:cd:ef');
    assert.equal(mac.parseMac('5254.00ab.cdef'), '52:54:00:ab:cd:ef');
    assert.equal(mac.parseMac('00:00:00:00:00:00'), '00:00:00:00:00:00');
    assert.equal(mac.parseMac('52:54-00:ab:cd:ef'), null);
    assert.equal(mac.parseMac('52:54:00:ab:cd'), null);
  });
  it('normalizeMac throws validation_failed naming the field', () => {
    assert.equal(mac.normalizeMac('52:54:00:AB:CD:EF'), '52:54:00:ab:cd:ef');
    assert.throws(
      () => mac.normalizeMac('nope', '/nics/0/mac'),
      (e) => hasCode(e, 'validation_failed') && /^\/nics\/0\/mac: "nope" is not a MAC address/.test(e.message),
    );
  });
});
