import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSyslog } from './decode.js';
import { SYSLOG_MAX_MESSAGE_OCTETS } from './codes.js';
import { summarizeSyslog } from './summarize.js';

const enc = (s: string) => new TextEncoder().encode(s);

// Each case: a name, the line, and its summarizeSyslog() line.
const cases: [string, string, string][] = [
  [
    'RFC 3164 §5.4 example 1: HOSTNAME, TAG and CONTENT',
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    'rfc3164 auth.crit ts=Oct 11 22:14:15 host=mymachine app=su text="\'su root\' failed for lonvick on /dev/pts/8"',
  ],
  [
    'RFC 3164 §5.4 example 2: no PRI, the whole line is CONTENT at PRI 13 (§4.3.3)',
    'Use the BFG!',
    'rfc3164 user.notice text="Use the BFG!" !no_pri@0(PRI)',
  ],
  [
    'RFC 3164 §4.1.2: a day below 10 is padded with a space',
    '<13>Feb  5 17:32:18 10.0.0.99 myapp[1234]: started',
    'rfc3164 user.notice ts=Feb  5 17:32:18 host=10.0.0.99 app=myapp pid=1234 text="started"',
  ],
  [
    'unpadded day "Feb 5" is tolerated',
    '<13>Feb 5 17:32:18 host app: x',
    'rfc3164 user.notice ts=Feb 5 17:32:18 host=host app=app text="x"',
  ],
  [
    'busybox syslogd -R: no HOSTNAME, TAG ends with ":"',
    '<28>Dec  6 04:52:35 bbtag: busybox says hello\n',
    'rfc3164 daemon.warning ts=Dec  6 04:52:35 app=bbtag text="busybox says hello"',
  ],
  [
    'no HOSTNAME, TAG[PID]:',
    '<30>Dec  6 04:52:35 udhcpc[311]: lease obtained',
    'rfc3164 daemon.info ts=Dec  6 04:52:35 app=udhcpc pid=311 text="lease obtained"',
  ],
  [
    'kernel printk line without HOSTNAME or TAG',
    '<6>Dec  6 04:52:35 [    1.234567] Linux version 6.1',
    'rfc3164 kern.info ts=Dec  6 04:52:35 text="[    1.234567] Linux version 6.1"',
  ],
  [
    'rsyslog forwarding an RFC 5424 message: TAG without ":"',
    '<158>Dec  6 04:53:01 kiln-capture kiln-relay via rsyslog',
    'rfc3164 local3.info ts=Dec  6 04:53:01 host=kiln-capture app=kiln-relay text="via rsyslog"',
  ],
  [
    'RFC 3339 timestamp in a BSD line (rsyslog RSYSLOG_ForwardFormat)',
    '<13>2026-12-06T04:52:35.123456+01:00 host app: x',
    'rfc3164 user.notice ts=2026-12-06T04:52:35.123456+01:00 host=host app=app text="x"',
  ],
  [
    'no TIMESTAMP after PRI (§4.3.2): the TAG is still read, the field is flagged',
    '<13>myapp: no clock here',
    'rfc3164 user.notice app=myapp text="no clock here" !bad_timestamp@4(TIMESTAMP)',
  ],
  [
    'impossible date Feb 30: flagged, kept as text',
    '<13>Feb 30 17:32:18 host app: x',
    'rfc3164 user.notice text="Feb 30 17:32:18 host app: x" !bad_timestamp@4(TIMESTAMP)',
  ],
  [
    'PRI out of range (> 191) is no PRI (§4.3.3)',
    '<192>Oct 11 22:14:15 host app: x',
    'rfc3164 user.notice text="<192>Oct 11 22:14:15 host app: x" !no_pri@0(PRI)',
  ],
  ['PRI with 4 digits is no PRI', '<0013>x', 'rfc3164 user.notice text="<0013>x" !no_pri@0(PRI)'],
  ['PRI 0 (kern.emerg) and an empty message', '<0>', 'rfc3164 kern.emerg text="" !bad_timestamp@3(TIMESTAMP)'],
  [
    'a single word after the timestamp is text, not a TAG',
    '<13>Oct 11 22:14:15 hello',
    'rfc3164 user.notice ts=Oct 11 22:14:15 text="hello"',
  ],
  [
    'a second SP after the TAG belongs to CONTENT',
    '<13>Oct 11 22:14:15 host app:  indented',
    'rfc3164 user.notice ts=Oct 11 22:14:15 host=host app=app text=" indented"',
  ],
  ['an empty datagram', '', 'rfc3164 user.notice text="" !no_pri@0(PRI)'],
];

for (const [name, line, want] of cases) {
  test(`rfc3164: ${name}`, () => {
    const m = decodeSyslog(enc(line));
    assert.equal(summarizeSyslog(m), want);
    assert.deepEqual(m.raw, enc(line));
  });
}

test('rfc3164: the BSD timestamp keeps its parts; year and zone are left to the receiver', () => {
  assert.deepEqual(decodeSyslog(enc('<13>Feb  5 17:32:18 h a: x')).timestamp, {
    kind: 'bsd',
    text: 'Feb  5 17:32:18',
    month: 2,
    day: 5,
    hour: 17,
    minute: 32,
    second: 18,
  });
});

test('size cap: a message over SYSLOG_MAX_MESSAGE_OCTETS is cut at its end and marked too_long (RFC 5424 §6.1)', () => {
  const line = `<13>Oct 11 22:14:15 host app: ${'x'.repeat(SYSLOG_MAX_MESSAGE_OCTETS)}`;
  const m = decodeSyslog(enc(line));
  assert.equal(m.raw.length, SYSLOG_MAX_MESSAGE_OCTETS);
  assert.equal(m.hostname, 'host');
  assert.deepEqual(m.defects, [{ code: 'too_long', offset: SYSLOG_MAX_MESSAGE_OCTETS, field: 'SYSLOG-MSG' }]);
  assert.equal(decodeSyslog(enc('<13>x'), { truncated: true }).defects[0].code, 'too_long');
});
