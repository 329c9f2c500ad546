import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSessions, formatTimeline } from './timeline-view.js';

test('kiln host timeline prints the stages in order and the summary, with escape sequences and control characters removed from what a node sent', () => {
  const out = formatTimeline({
    session: '0123456789ab',
    hostName: 'web1',
    mac: '52:54:00:aa:bb:01',
    startedAt: '2026-12-06T08:00:00.000Z',
    firmware: 'bios',
    arch: 'x86Bios',
    purpose: 'install',
    status: 'failed',
    summary: 'failed at install-step: late: \u001b[2J\u001b]0;owned\u0007exit 1',
    stages: [
      { at: '2026-12-06T08:00:00.000Z', stage: 'dhcp', outcome: 'ok', detail: 'ack' },
      {
        at: '2026-12-06T08:00:09.000Z',
        stage: 'install-step',
        outcome: 'failed',
        detail: 'late: \u001b[31mred\rexit 1',
      },
    ],
  });
  assert.doesNotMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no control character but newlines');
  const lines = out.split('\n');
  assert.match(
    lines[0],
    /^web1 \(52:54:00:aa:bb:01\) session 0123456789ab, started .*, firmware bios x86Bios, install$/,
  );
  assert.ok(lines.findIndex((l) => l.includes('dhcp')) < lines.findIndex((l) => l.includes('install-step')));
  assert.match(lines.at(-1)!, /^failed: failed at install-step: late: .*exit 1$/);
  assert.match(
    formatSessions([
      {
        session: '0123456789ab',
        startedAt: 'x',
        firmware: 'bios',
        arch: null,
        purpose: 'discover',
        status: 'complete',
        summary: 'complete after facts',
      },
    ]),
    /0123456789ab.*complete after facts/,
  );
});
