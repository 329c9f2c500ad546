import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSyslogDeframer, type SyslogFrame } from './deframe.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (f: SyslogFrame) => `${f.truncated ? '~' : ''}${new TextDecoder().decode(f.bytes)}`;

/** Feeds `stream` in chunks of `size` bytes and returns every frame (ended connection included) as text. */
function run(stream: string, size: number, max?: number): { frames: string[]; error?: string } {
  const d = createSyslogDeframer(max);
  const bytes = enc(stream);
  const frames: string[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const r = d.push(bytes.subarray(i, i + size));
    frames.push(...r.frames.map(dec));
    if (r.error) return { frames, error: `${r.error.code}@${r.error.offset}` };
  }
  frames.push(...d.end().map(dec));
  return { frames };
}

// Each case: a name, the stream, the cap (undefined: the default), frames (`~` = truncated) and error.
const cases: [string, string, number | undefined, string[], string?][] = [
  ['octet counting (RFC 6587 §3.4.1)', '5 <13>a6 <13>bc', undefined, ['<13>a', '<13>bc']],
  ['octet counting: a frame holding LF (rsyslog counts its trailer)', '7 <13>a\nb', undefined, ['<13>a\nb']],
  ['octet counting: LF or CR LF between frames is tolerated', '5 <13>a\n5 <13>b\r\n', undefined, ['<13>a', '<13>b']],
  ['non-transparent framing (§3.4.2): LF-terminated', '<13>a\n<13>b\n', undefined, ['<13>a', '<13>b']],
  [
    'non-transparent: empty lines and leading LFs carry no frame',
    '\n\n<13>a\n\n<13>b\n',
    undefined,
    ['<13>a', '<13>b'],
  ],
  [
    'non-transparent: the last line without LF is kept when the connection ends',
    '<13>a\n<13>b',
    undefined,
    ['<13>a', '<13>b'],
  ],
  ['the first byte picks the framing for the whole connection', '<13>5 x\n3 <1>\n', undefined, ['<13>5 x', '3 <1>']],
  ['octet counting: a frame over the cap is cut and the rest skipped', '6 abcdef3 xyz', 4, ['~abcd', 'xyz']],
  [
    'non-transparent: a line over the cap is cut and the rest of the line skipped',
    'abcdefgh\nxy\n',
    4,
    ['~abcd', 'xy'],
  ],
  ['non-transparent: a line exactly at the cap is whole', 'abcd\nxy\n', 4, ['abcd', 'xy']],
  ['octet counting: the connection ends inside a frame, which is kept as cut', '9 <13>ab', undefined, ['~<13>ab']],
  ['octet counting: MSG-LEN not a number is an error', '5 <13>aX <13>b', undefined, ['<13>a'], 'bad_frame_length@7'],
  ['octet counting: MSG-LEN 0 (NONZERO-DIGIT first) is an error', '0 x', undefined, [], 'bad_frame_length@0'],
  ['octet counting: MSG-LEN of 10 digits is an error', '1234567890 x', undefined, [], 'bad_frame_length@9'],
];

for (const [name, stream, max, frames, error] of cases) {
  test(`deframe: ${name}`, () => {
    // Whole, and one byte at a time: chunk boundaries never change the frames.
    for (const size of [stream.length || 1, 1, 3]) {
      assert.deepEqual(run(stream, size, max), error === undefined ? { frames } : { frames, error }, `chunk ${size}`);
    }
  });
}

test('deframe: after an error every push repeats it and gives no frames', () => {
  const d = createSyslogDeframer();
  const first = d.push(enc('x1 a'));
  assert.equal(first.error?.code, undefined); // 'x' picks non-transparent framing: no error
  const o = createSyslogDeframer();
  const bad = o.push(enc('1x'));
  assert.equal(bad.error?.code, 'bad_frame_length');
  assert.deepEqual(o.push(enc('1 a')), { frames: [], error: bad.error });
  assert.deepEqual(o.end(), []);
});
