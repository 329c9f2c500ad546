import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sanitizeForDisplay } from './display-text.js';

// Each case: a name, hostile input, what the CLI shows.
const cases: [string, string, string][] = [
  ['plain text and TAB are kept', 'disk sda:\tok', 'disk sda:\tok'],
  ['SGR colour codes are removed', '\u001b[1;31mPANIC\u001b[0m now', 'PANIC now'],
  ['cursor movement and screen clear are removed', 'a\u001b[2J\u001b[H\u001b[10;5Hb', 'ab'],
  ['OSC window title ended by BEL', '\u001b]0;owned\u0007x', 'x'],
  ['OSC 8 hyperlink ended by ST keeps the visible text', '\u001b]8;;http://evil\u001b\\link\u001b]8;;\u001b\\', 'link'],
  ['an unterminated OSC swallows the rest (no half sequence leaks)', 'ok\u001b]0;never ends', 'ok'],
  ['8-bit CSI (U+009B) is removed', 'a\u009b31mb', 'ab'],
  ['two-byte ESC sequences (ESC c: reset) are removed', 'a\u001bcb', 'ab'],
  ['a lone ESC at the end is removed', 'a\u001b', 'a'],
  ['CR and LF become spaces, so a line cannot overwrite itself', 'fine\rFAKE\nnext', 'fine FAKE next'],
  ['BEL, backspace, NUL, DEL and C1 controls are removed', 'a\u0007\u0008\u0000\u007f\u0085b', 'ab'],
  ['bidi overrides and isolates are removed', 'user\u202Egnp.exe\u2066x\u2069', 'usergnp.exex'],
  ['non-ASCII text is kept', 'Grüße — 日本', 'Grüße — 日本'],
];

for (const [name, input, want] of cases) {
  test(`sanitizeForDisplay: ${name}`, () => assert.equal(sanitizeForDisplay(input), want));
}

test('sanitizeForDisplay: the output of any input holds no ESC and no control character but TAB', () => {
  let all = '';
  for (let c = 0; c < 0x250; c++) all += `${String.fromCharCode(c)}x`;
  assert.doesNotMatch(sanitizeForDisplay(all), /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
});
