import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewEvent } from '../event/event.js';
import { linearRegExp } from './linear-regex.js';
import type { NewSyslogMessage } from './syslog-message-row.js';
import { syslogConfigIssues, defaultSyslogConfig } from './syslog-config.js';
import { syslogTriggers } from './triggers.js';

const line = (text: string, over: Partial<NewSyslogMessage> = {}): NewSyslogMessage => ({
  hostId: 'h1',
  receivedAt: '2026-12-06T08:00:00.000Z',
  sourceIp: '10.0.0.5',
  facility: 0,
  severity: 6,
  hostname: null,
  app: null,
  procId: null,
  msgId: null,
  text,
  sessionId: null,
  defects: [],
  raw: null,
  ...over,
});

function runner(config: Partial<typeof defaultSyslogConfig> = {}, maxPerMinute?: number) {
  const events: NewEvent[] = [];
  let t = 1_000_000;
  const r = syslogTriggers(
    { ...defaultSyslogConfig, ...config },
    {
      hostIdByName: async (n) => (n === 'web1' ? 'h1' : null),
      record: async (e) => void events.push(e),
      now: () => t,
      ...(maxPerMinute === undefined ? {} : { maxPerMinute }),
    },
  );
  return { r, events, advance: (ms: number) => (t += ms) };
}

test('the shipped library raises syslog.trigger for kernel panic, OOM killer, disk I/O errors and installer failures', async () => {
  const { r, events } = runner();
  const lines = [
    'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    'Out of memory: Killed process 1234 (stress) total-vm:123kB',
    'blk_update_request: I/O error, dev sda, sector 2048 op 0x0:(READ)',
    'Installation step failed: Install the base system',
    'kiln: image write failed: sha256 mismatch',
    'all is well',
  ];
  await r.check(lines.map((l, i) => line(l, { hostId: `h${i}` })));
  assert.deepEqual(
    events.map((e) => [e.kind, e.subject, e.hostId]),
    [
      ['syslog.trigger', 'kernel-panic', 'h0'],
      ['syslog.trigger', 'oom-killer', 'h1'],
      ['syslog.trigger', 'disk-io-error', 'h2'],
      ['syslog.trigger', 'installer-failure', 'h3'],
      ['syslog.trigger', 'installer-failure', 'h4'],
    ],
  );
  const off = runner({ triggerLibrary: false });
  await off.r.check(lines.map((l) => line(l)));
  assert.equal(off.events.length, 0, 'the library can be turned off');
});

test('operator triggers filter by host, session and severity; one event per host and trigger per throttle window, counting what was held back', async () => {
  const { r, events, advance } = runner({
    triggerLibrary: false,
    triggerThrottleSeconds: 60,
    triggers: [{ name: 'raid', pattern: 'md[0-9]+: .*degraded', host: 'web1', severity: 4, session: '3f2a9c1b7d4e' }],
  });
  const hit = (over: Partial<NewSyslogMessage> = {}) =>
    line('md0: array degraded', { severity: 3, sessionId: '3f2a9c1b7d4e', ...over });
  await r.check([hit({ hostId: 'h2' }), hit({ severity: 6 }), hit({ sessionId: null }), hit(), hit(), hit()]);
  assert.equal(events.length, 1);
  assert.equal((events[0].data as { heldBack: number }).heldBack, 0);
  advance(61_000);
  await r.check([hit()]);
  assert.equal(events.length, 2);
  assert.equal((events[1].data as { heldBack: number }).heldBack, 2, 'the two held back are counted in the next');
});

test('a flood of matching lines from many spoofed addresses is capped per minute', async () => {
  const { r, events, advance } = runner({}, 5);
  await r.check(
    Array.from({ length: 50 }, (_, i) => line('Kernel panic - not syncing', { hostId: null, sourceIp: `10.9.0.${i}` })),
  );
  assert.equal(events.length, 5);
  assert.equal(r.dropped(), 45);
  advance(60_000);
  await r.check([line('Kernel panic - not syncing', { hostId: null, sourceIp: '10.9.1.1' })]);
  assert.equal(events.length, 6);
});

test('patterns run in linear time: a backtracking bomb is fast, backreferences and lookaround are config errors', () => {
  const re = linearRegExp('(a+)+$');
  const t0 = process.hrtime.bigint();
  assert.equal(re.test(`${'a'.repeat(5000)}b`), false);
  // Generous bound: a backtracking engine takes longer than the age of the universe here.
  assert.ok(process.hrtime.bigint() - t0 < 2_000_000_000n);
  const issues = syslogConfigIssues({
    ...defaultSyslogConfig,
    triggers: [
      { name: 'ok', pattern: 'fine' },
      { name: 'backref', pattern: '(a)\\1' },
      { name: 'ok', pattern: '(?<=x)y' },
    ],
  });
  assert.deepEqual(
    issues.map((i) => i.path),
    ['syslog.triggers.1.pattern', 'syslog.triggers.2', 'syslog.triggers.2.pattern'],
  );
  assert.match(issues[0].message, /linear time/);
});
