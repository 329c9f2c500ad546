import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { linearRegExp } from './linear-regex.js';
import { literalPrefilter, requiredLiterals } from './literal-prefilter.js';
import { TRIGGER_LIBRARY } from './trigger-library.js';

const library = Object.fromEntries(TRIGGER_LIBRARY.map((t) => [t.name, t.pattern]));

test('required literals: one per top-level alternative, the longest plain run outside groups, classes and quantifiers', () => {
  const cases: Array<[name: string, pattern: string, want: string[] | null]> = [
    ['plain text', 'Kernel panic - not syncing', ['Kernel panic - not syncing']],
    [
      'alternatives',
      'invoked oom-killer|Out of memory: Kill(ed)? process',
      ['invoked oom-killer', 'Out of memory: Kill'],
    ],
    [
      'classes, escapes and optional groups',
      library['disk-io-error'],
      [
        'I/O error, dev ',
        'blk_update_request: I/O error',
        'Buffer I/O error on dev',
        'ritical medium error',
        'EXT4-fs error',
        'I/O error',
      ],
    ],
    [
      'the installer library',
      library['installer-failure'],
      [' failed', 'Installation step failed', 'curtin', 'Traceback'],
    ],
    ['a quantified character leaves the run', 'ab+cd', ['cd']],
    ['a lazy quantifier too', 'abc*?de', ['ab']],
    ['a counted quantifier too', 'abc{2,3}d', ['ab']],
    ['an escaped punctuation mark is a literal', 'a\\.b\\(c', ['a.b(c']],
    ['a class escape is not', 'ab\\dcd', ['ab']],
    ['anchors end a run', '^abc$', ['abc']],
    ['an alternative without a literal: no prefilter', 'panic|[0-9]+', null],
    ['only a group: no prefilter', '(a|b)c?', null],
    ['dot-star only: no prefilter', '.*', null],
    ['an alternation inside a group is not top level', 'x(a|b)yz', ['yz']],
    ['a | inside a class is not top level', 'ab[|]cd', ['ab']],
    ['an unclosed group: no prefilter', 'ab(cd', null],
    ['a trailing backslash: no prefilter', 'ab\\', null],
  ];
  for (const [name, pattern, want] of cases) assert.deepEqual(requiredLiterals(pattern), want, name);
});

test('the prefilter never turns away a line the pattern matches (property, over each library pattern and generated ones)', () => {
  const patterns = [
    ...TRIGGER_LIBRARY.map((t) => t.pattern),
    'ab+c|d(e|f)g',
    'x\\.y*z',
    '^start [a-c]{2} end$',
    'q(r)?s|tu?v',
  ];
  // Texts made of the patterns' own characters (and a few others), so matches are frequent.
  const alphabet = [...new Set([...patterns.join(''), ' ', 'e', 'r', 'o'])];
  const textOf = fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((cs) => cs.join(''));
  for (const p of patterns) {
    const re = linearRegExp(p);
    const maybe = literalPrefilter(p);
    // Lines that match, made by putting each literal's alternative in random text.
    fc.assert(
      fc.property(textOf, textOf, (a, b) => {
        for (const probe of [a + b, `${a}${(requiredLiterals(p) ?? [''])[0]}${b}`]) {
          if (re.test(probe)) assert.ok(maybe(probe), `${p} matches ${JSON.stringify(probe)}`);
        }
      }),
      { numRuns: 300 },
    );
  }
  // Real lines the library is for pass the prefilter.
  for (const line of [
    'Kernel panic - not syncing: Attempted to kill init!',
    'Out of memory: Killed process 1234 (java)',
    'blk_update_request: I/O error, dev sda, sector 2048',
    'XFS (dm-0): metadata I/O error in "xfs_trans_read_buf_map"',
    'finish: subiquity/Install/install/curtin_install: FAIL: curtin command install',
  ])
    assert.ok(
      TRIGGER_LIBRARY.some((t) => literalPrefilter(t.pattern)(line) && linearRegExp(t.pattern).test(line)),
      line,
    );
});
