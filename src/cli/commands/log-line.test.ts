import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLogLine } from './log-line.js';

test('kiln host logs prints each line with escape sequences and control characters removed', () => {
  const line = formatLogLine({
    receivedAt: '2026-12-06T06:00:00.000Z',
    severity: 3,
    hostname: 'web1',
    app: 'agent\u001b]0;owned\u0007',
    procId: '42',
    text: 'disk \u001b[31mfailed\u001b[0m\r\nfake prompt $ \u202eevil',
    sessionId: '3f2a9c1b7d4e',
    defects: [],
  });
  assert.equal(
    line,
    '2026-12-06T06:00:00.000Z err     agent[42]: disk failed  fake prompt $ evil  (session=3f2a9c1b7d4e)',
  );
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/);
});
