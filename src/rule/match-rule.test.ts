import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { expandName, ruleMatches, selectRule, validateRule } from './match-rule.js';
import type { Rule } from './rule.js';

const facts = {
  bootMac: '52:54:00:ab:cd:ef',
  firmware: 'uefi',
  cpu: { count: 8 },
  memory: { totalBytes: 16 * 1024 ** 3 - 200 * 1024 ** 2 },
  disks: [{ name: 'nvme0n1' }, { name: 'nvme1n1' }],
  dmi: { vendor: 'Dell Inc.', product: 'PowerEdge R650', serial: 'ABC 123', uuid: 'u-1' },
};
const rule = (name: string, match: Rule['match'], priority = 100, assign: Rule['assign'] = {}): Rule => ({
  name,
  priority,
  match,
  assign,
});

describe('rules', () => {
  const cases: Array<[string, Rule['match'], boolean]> = [
    ['vendor, case-insensitive', { vendor: 'dell inc.' }, true],
    ['other vendor', { vendor: 'HPE' }, false],
    ['product', { product: 'PowerEdge R650' }, true],
    ['MAC prefix with dashes', { macPrefix: '52-54-00' }, true],
    ['MAC prefix mismatch', { macPrefix: '00:25:90' }, false],
    ['memory ≥ 16 GiB (usable slightly below)', { memoryGiBAtLeast: 16 }, true],
    ['memory ≥ 32 GiB', { memoryGiBAtLeast: 32 }, false],
    ['cpu count ≥ 8', { cpuCountAtLeast: 8 }, true],
    ['exact disk count', { diskCount: 2 }, true],
    ['disk count ≥ 3', { diskCountAtLeast: 3 }, false],
    ['firmware', { firmware: 'bios' }, false],
    ['all conditions together', { vendor: 'Dell Inc.', diskCountAtLeast: 2, firmware: 'uefi' }, true],
  ];
  for (const [name, match, want] of cases) it(name, () => assert.equal(ruleMatches(rule('r', match), facts), want));

  it('the first match by priority wins', () => {
    const r = selectRule(
      [rule('b', { vendor: 'Dell Inc.' }, 50), rule('a', { cpuCountAtLeast: 1 }, 10), rule('c', { vendor: 'HPE' }, 1)],
      facts,
    );
    assert.equal(r?.name, 'a');
    assert.equal(selectRule([rule('c', { vendor: 'HPE' })], facts), null);
  });

  it('expands name patterns into host-name characters', () => {
    assert.equal(expandName('dell-{serial}', facts), 'dell-abc-123');
    assert.equal(expandName('node-{mac}', facts), 'node-525400abcdef');
  });

  it('refuses unknown placeholders, bad patterns, unknown profiles and empty matches when saved', () => {
    assert.throws(
      () => validateRule(rule('r1', {}, 1, { name: 'x-{rack}', profile: 'nope' }), () => false),
      (e) => {
        assert.ok(hasCode(e, 'validation_failed'));
        assert.deepEqual(e.issues.map((i) => i.code).sort(), ['empty_match', 'unknown_placeholder', 'unknown_profile']);
        return true;
      },
    );
    assert.throws(
      () => validateRule(rule('r2', { vendor: 'x' }, 1, { name: 'Bad_{mac}' }), () => true),
      (e) => hasCode(e, 'validation_failed') && /host name/.test(e.message),
    );
    validateRule(
      rule('r3', { vendor: 'x' }, 1, { name: 'web-{mac}', profile: 'kiln-image' }),
      (p) => p === 'kiln-image',
    );
  });
});
