import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSyslog } from './decode.js';
import { encodeSyslog5424 } from './rfc5424.js';
import { summarizeSyslog } from './summarize.js';

const enc = (s: string) => new TextEncoder().encode(s);
const BOM = '\uFEFF';

// Each case: a name, the message text (UTF-8 encoded), and its summarizeSyslog() line.
const cases: [string, string | Uint8Array, string][] = [
  [
    'RFC 5424 §6.5 example 1: no STRUCTURED-DATA, BOM before MSG',
    `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${BOM}'su root' failed for lonvick on /dev/pts/8`,
    'rfc5424 auth.crit ts=2003-10-11T22:14:15.003Z host=mymachine.example.com app=su msgid=ID47 sd=- bom text="\'su root\' failed for lonvick on /dev/pts/8"',
  ],
  [
    'RFC 5424 §6.5 example 2: microseconds and a negative offset, no BOM',
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    'rfc5424 local4.notice ts=2003-08-24T05:14:15.000003-07:00 host=192.0.2.1 app=myproc pid=8710 sd=- text="%% It\'s time to make the do-nuts."',
  ],
  [
    'RFC 5424 §6.5 example 3: STRUCTURED-DATA and MSG',
    `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
    'rfc5424 local4.notice ts=2003-10-11T22:14:15.003Z host=mymachine.example.com app=evntslog msgid=ID47 sd=[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] bom text="An application event log entry..."',
  ],
  [
    'RFC 5424 §6.5 example 4: two SD-ELEMENTs, no MSG',
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    'rfc5424 local4.notice ts=2003-10-11T22:14:15.003Z host=mymachine.example.com app=evntslog msgid=ID47 sd=[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] text=""',
  ],
  ['every header field NILVALUE', '<14>1 - - - - - - hello', 'rfc5424 user.info sd=- text="hello"'],
  [
    'SD escapes \\" \\\\ \\] unescaped; a backslash before another character stays (§6.3.3)',
    '<14>1 - h a - - [x@1 v="a\\"b\\\\c\\]d\\ne"] m',
    'rfc5424 user.info host=h app=a sd=[x@1 v="a\\"b\\\\c\\]d\\\\ne"] text="m"',
  ],
  [
    'an unescaped ] inside a quoted value is tolerated',
    '<14>1 - h a - - [x@1 v="a]b"] m',
    'rfc5424 user.info host=h app=a sd=[x@1 v="a\\]b"] text="m"',
  ],
  [
    'bad timestamp: leap second (§6.2.3: MUST NOT), the rest still read',
    '<14>1 2016-12-31T23:59:60Z h a - - - m',
    'rfc5424 user.info host=h app=a sd=- text="m" !bad_timestamp@6(TIMESTAMP)',
  ],
  [
    'bad timestamp: lower-case t and z (§6.2.3: MUST be upper case)',
    '<14>1 2003-10-11t22:14:15z h a - - - m',
    'rfc5424 user.info host=h app=a sd=- text="m" !bad_timestamp@6(TIMESTAMP)',
  ],
  [
    'bad timestamp: 7 fraction digits (§6.2.3: at most 6)',
    '<14>1 2003-10-11T22:14:15.0000001Z h a - - - m',
    'rfc5424 user.info host=h app=a sd=- text="m" !bad_timestamp@6(TIMESTAMP)',
  ],
  [
    'APP-NAME longer than 48 octets is a bad field, not a lost line',
    `<14>1 - h ${'a'.repeat(49)} - - - m`,
    'rfc5424 user.info host=h sd=- text="m" !bad_header_field@10(APP-NAME)',
  ],
  [
    'header ends early: the fields read are kept, and the whole header as text',
    '<14>1 - host app',
    'rfc5424 user.info host=host app=app sd=- text="- host app" !truncated_header@16(PROCID)',
  ],
  [
    'a 3164-style line that happens to start with "1 " keeps its words in text',
    '<13>1 apple',
    'rfc5424 user.notice sd=- text="apple" !bad_timestamp@6(TIMESTAMP) !truncated_header@11(HOSTNAME)',
  ],
  [
    'broken STRUCTURED-DATA: kept as text from where SD starts',
    '<14>1 - h a - - [x@1 v="open m',
    'rfc5424 user.info host=h app=a sd=- text="[x@1 v=\\"open m" !bad_structured_data@24(STRUCTURED-DATA)',
  ],
  [
    'SD not followed by SP: the rest is text',
    '<14>1 - h a - - [x@1]m',
    'rfc5424 user.info host=h app=a sd=[x@1] text="m" !bad_structured_data@21(STRUCTURED-DATA)',
  ],
  [
    'MSG that is not UTF-8 is decoded with U+FFFD and flagged',
    Uint8Array.of(...enc('<14>1 - h a - - - '), 0xff, 0x41),
    'rfc5424 user.info host=h app=a sd=- text="\uFFFDA" !bad_utf8@18(MSG)',
  ],
  [
    'trailing LF (rsyslog over UDP) and CR LF are not part of MSG',
    '<14>1 - h a - - - m\r\n',
    'rfc5424 user.info host=h app=a sd=- text="m"',
  ],
];

for (const [name, input, want] of cases) {
  test(`rfc5424: ${name}`, () => {
    const bytes = typeof input === 'string' ? enc(input) : input;
    const m = decodeSyslog(bytes);
    assert.equal(summarizeSyslog(m), want);
    assert.deepEqual(m.raw, bytes);
  });
}

test('rfc5424: the timestamp resolves to UTC milliseconds, offset applied, microseconds cut', () => {
  const m = decodeSyslog(enc('<165>1 2003-08-24T05:14:15.000003-07:00 h a - - - m'));
  assert.deepEqual(m.timestamp, {
    kind: 'rfc3339',
    text: '2003-08-24T05:14:15.000003-07:00',
    epochMs: Date.UTC(2003, 7, 24, 12, 14, 15, 0),
    offsetMinutes: -420,
  });
  const z = decodeSyslog(enc('<165>1 0001-02-03T04:05:06.789Z h a - - - m')).timestamp;
  assert.equal(z?.kind === 'rfc3339' && new Date(z.epochMs).toISOString(), '0001-02-03T04:05:06.789Z');
});

test('rfc5424: SD params keep wire order and repeated names (§6.3.3)', () => {
  const m = decodeSyslog(enc('<14>1 - h a - - [x@1 k="1" k="2"][y z="]"] m'));
  assert.deepEqual(m.structuredData, [
    {
      id: 'x@1',
      params: [
        { name: 'k', value: '1' },
        { name: 'k', value: '2' },
      ],
    },
    { id: 'y', params: [{ name: 'z', value: ']' }] },
  ]);
});

test('rfc5424: encode writes NILVALUE for absent fields, escapes SD values, omits an empty MSG', () => {
  const bytes = encodeSyslog5424({
    facility: 16,
    severity: 5,
    appName: 'kiln',
    structuredData: [{ id: 'kiln@32473', params: [{ name: 'v', value: 'a"b\\c]d' }] }],
  });
  assert.equal(new TextDecoder().decode(bytes), '<133>1 - - kiln - - [kiln@32473 v="a\\"b\\\\c\\]d"]');
  assert.equal(decodeSyslog(bytes).structuredData[0].params[0].value, 'a"b\\c]d');
});
