import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  advance,
  carryHandoff,
  checkStall,
  describeSession,
  expectedNext,
  newSession,
  opensSession,
  statusOf,
  type Observation,
  type SessionState,
  type Stage,
  withHandoffTime,
} from './stage-model.js';
import { defaultTimelineConfig, rulesOf } from './timeline-config.js';

const rules = rulesOf(defaultTimelineConfig);
const ok = (at: number, stage: Stage, extra: Partial<Observation> = {}): Observation => ({
  at,
  stage,
  outcome: 'ok',
  detail: stage,
  ...extra,
});
const fail = (at: number, stage: Stage, final = false): Observation => ({
  at,
  stage,
  outcome: 'failed',
  final,
  detail: `${stage} broke`,
});

/** Plays observations through the model the way the service does: a new session when one opens. */
function play(obs: Observation[], start: SessionState | null = null): SessionState[] {
  const sessions: SessionState[] = [];
  let s = start;
  for (const o of obs) {
    if (!s || opensSession(s, o, rules)) {
      if (s) sessions.push(s);
      s = newSession(`s${sessions.length}`, o);
    }
    s = advance(s, o);
  }
  if (s) sessions.push(s);
  return sessions;
}

const S = 1000;

test('a BIOS discovery boot walks every stage in order, expects the next one each time, and is complete after facts', () => {
  const steps: Array<[Stage, Stage | null, Partial<Observation>?]> = [
    ['dhcp', 'boot-file', { firmware: 'bios', arch: 'x86Bios' }],
    ['boot-file', 'ipxe-dhcp'],
    ['ipxe-dhcp', 'ipxe-script'],
    ['ipxe-script', 'kernel', { purpose: 'discover' }],
    ['kernel', 'initrd'],
    ['initrd', 'agent'],
    ['os-dhcp', 'agent'],
    ['agent', 'facts'],
    ['facts', null],
  ];
  let s: SessionState | null = null;
  steps.forEach(([stage, next, extra], i) => {
    const o = ok(i * S, stage, extra);
    if (!s) s = newSession('a', o);
    else assert.equal(opensSession(s, o, rules), false, `${stage} stays in the session`);
    s = advance(s, o);
    assert.equal(s.reached, stage);
    assert.equal(expectedNext(s), next, `after ${stage}`);
  });
  assert.equal(s!.firmware, 'bios');
  assert.equal(s!.arch, 'x86Bios');
  assert.equal(statusOf(s!), 'complete');
  assert.equal(describeSession(s!, rules), 'complete after facts');
});

test('an install boot expects install plan, steps and installed; the first boot expects /node/complete', () => {
  const [install] = play([
    ok(0, 'dhcp', { firmware: 'uefi-pxe' }),
    ok(1 * S, 'boot-file'),
    ok(2 * S, 'ipxe-dhcp'),
    ok(3 * S, 'ipxe-script', { purpose: 'install' }),
    ok(4 * S, 'kernel'),
    ok(5 * S, 'initrd'),
  ]);
  assert.equal(expectedNext(install), 'install-plan');
  let s = advance(install, ok(6 * S, 'agent'));
  assert.equal(expectedNext(s), 'install-plan');
  s = advance(s, ok(7 * S, 'install-plan'));
  assert.equal(expectedNext(s), 'install-step');
  s = advance(s, ok(8 * S, 'install-step'));
  assert.equal(expectedNext(s), 'installed');
  s = advance(s, ok(9 * S, 'installed'));
  assert.equal(statusOf(s), 'complete');
  const first = newSession('f', ok(100 * S, 'dhcp'));
  const after = advance(
    advance(advance(first, ok(100 * S, 'dhcp')), ok(101 * S, 'ipxe-dhcp')),
    ok(102 * S, 'ipxe-script', { purpose: 'first-boot' }),
  );
  assert.equal(expectedNext(after), 'first-boot');
  assert.equal(statusOf(advance(after, ok(130 * S, 'first-boot'))), 'complete');
});

test('new sessions: firmware, iPXE and kernel DHCP of one boot are one session; each power-on after the host got further is a new one', () => {
  const sessions = play([
    // discovery boot: firmware DISCOVER/REQUEST (offer, ack), TFTP, iPXE DHCP, scripts, kernel, the kernel's DHCP
    ok(0, 'dhcp', { firmware: 'bios' }),
    ok(0.1 * S, 'dhcp', { firmware: 'bios' }),
    ok(1 * S, 'boot-file'),
    ok(2 * S, 'ipxe-dhcp'),
    ok(2.1 * S, 'ipxe-dhcp'),
    ok(3 * S, 'ipxe-script', { purpose: 'discover' }),
    ok(3.1 * S, 'ipxe-script', { purpose: 'discover' }),
    ok(4 * S, 'kernel'),
    ok(5 * S, 'initrd'),
    ok(20 * S, 'os-dhcp'),
    ok(21 * S, 'facts'),
    ok(30 * S, 'os-dhcp'), // a renewal joins
    // install boot: the firmware starts again
    ok(300 * S, 'dhcp', { firmware: 'bios' }),
    ok(301 * S, 'boot-file'),
    ok(302 * S, 'ipxe-dhcp'),
    ok(303 * S, 'ipxe-script', { purpose: 'install' }),
    ok(304 * S, 'kernel'),
    ok(305 * S, 'initrd'),
    ok(330 * S, 'os-dhcp'),
    ok(340 * S, 'install-plan'),
    ok(400 * S, 'installed'),
    // first boot from disk
    ok(600 * S, 'dhcp', { firmware: 'bios' }),
    ok(601 * S, 'ipxe-dhcp'),
    ok(602 * S, 'ipxe-script', { purpose: 'first-boot' }),
    ok(650 * S, 'first-boot'),
  ]);
  assert.deepEqual(
    sessions.map((s) => [s.reached, s.purpose]),
    [
      ['facts', 'discover'],
      ['installed', 'install'],
      ['first-boot', 'first-boot'],
    ],
  );
});

test('new sessions: a static-address host rebooting from its disk within the gap is a new session (its heartbeat reports a new boot id); the first heartbeat after the install is not', () => {
  const sessions = play([
    ok(0, 'dhcp', { firmware: 'bios' }),
    ok(1 * S, 'ipxe-script', { purpose: 'install' }),
    ok(2 * S, 'kernel'),
    ok(60 * S, 'installed'),
    // the disk boots (disk first in the boot order, a static address: no DHCP or script Kiln sees)
    ok(90 * S, 'first-boot'),
    ok(91 * S, 'heartbeat', { detail: 'heartbeat (boot id a)' }),
    ok(151 * S, 'heartbeat'),
    // rebooted two minutes later, well within the silence gap
    ok(200 * S, 'heartbeat', { reboot: true, detail: 'heartbeat (boot id b)' }),
    ok(260 * S, 'heartbeat'),
    // a heartbeat that claims a reboot during an install boot (before the installed system) joins it
    ok(900 * S, 'dhcp', { firmware: 'bios' }),
    ok(901 * S, 'ipxe-script', { purpose: 'install' }),
    ok(902 * S, 'heartbeat', { reboot: true }),
  ]);
  assert.deepEqual(
    sessions.map((s) => [s.reached, s.purpose, s.startedAt / S]),
    [
      ['heartbeat', 'install', 0],
      ['heartbeat', 'unknown', 200],
      ['heartbeat', 'install', 900],
    ],
  );
});

test('new sessions: OVMF falling through its HTTP boot option after the script sent it to the disk is the same boot; a later power-on is not', () => {
  const sessions = play([
    ok(0, 'ipxe-dhcp', { firmware: 'ipxe' }),
    ok(1 * S, 'ipxe-script', { purpose: 'first-boot' }), // `exit`: OVMF tries its next boot option
    ok(4 * S, 'dhcp', { firmware: 'uefi-http' }),
    ok(5 * S, 'boot-file'),
    ok(9 * S, 'ipxe-dhcp'),
    ok(10 * S, 'ipxe-script', { purpose: 'first-boot' }), // `exit` again: now the disk
    ok(30 * S, 'os-dhcp'),
    ok(40 * S, 'first-boot'),
    // a reboot of the installed system, later
    ok(3000 * S, 'ipxe-dhcp', { firmware: 'ipxe' }),
    ok(3001 * S, 'ipxe-script', { purpose: 'local' }),
  ]);
  assert.deepEqual(
    sessions.map((s) => [s.reached, s.purpose]),
    [
      ['first-boot', 'first-boot'],
      ['ipxe-script', 'local'],
    ],
  );
});

test('new sessions: in proxy mode with no DHCP seen, iPXE script requests start a boot; a retried script does not', () => {
  const sessions = play([
    ok(0, 'ipxe-script', { purpose: 'wait' }),
    ok(10 * S, 'ipxe-script', { purpose: 'discover' }), // the wait script chains again
    ok(11 * S, 'kernel'),
    ok(12 * S, 'initrd'),
    ok(100 * S, 'ipxe-script', { purpose: 'local' }), // the next power-on
  ]);
  assert.equal(sessions.length, 2);
  assert.equal(sessions[0].firmware, 'ipxe');
  assert.equal(sessions[0].reached, 'initrd');
  assert.equal(sessions[1].purpose, 'local');
});

test('new sessions: a firmware that loops at its own stage stays in one session until the silence gap; then a new one', () => {
  const gap = rules.sessionGapSeconds * S;
  const sessions = play([
    ok(0, 'dhcp'),
    fail(1 * S, 'boot-file'),
    ok(40 * S, 'dhcp'),
    fail(41 * S, 'boot-file'),
    ok(41 * S + gap + 1, 'dhcp'),
  ]);
  assert.equal(sessions.length, 2);
  // Only boot-start observations open sessions: the kernel's DHCP after a long silence joins.
  assert.equal(play([ok(0, 'ipxe-script', { purpose: 'discover' }), ok(gap * 3, 'os-dhcp')]).length, 1);
});

test('stall: raised once after the deadline of the expected stage, per firmware kind, on the given clock; progress clears it', () => {
  let s = advance(newSession('x', ok(0, 'dhcp', { firmware: 'uefi-pxe' })), ok(0, 'dhcp', { firmware: 'uefi-pxe' }));
  s = advance(s, ok(1 * S, 'boot-file'));
  assert.equal(expectedNext(s), 'ipxe-dhcp');
  const limit = rules.firmware['uefi-pxe']!['ipxe-dhcp']!;
  assert.equal(limit, 60, 'UEFI gets longer for iPXE to start');
  assert.equal(checkStall(s, 1 * S + limit * S, rules).raised, null, 'at the deadline: not yet');
  const r = checkStall(s, 1 * S + limit * S + 1, rules);
  assert.deepEqual(r.raised, { after: 'boot-file', expected: 'ipxe-dhcp', seconds: 60, at: 1 * S + limit * S + 1 });
  assert.equal(describeSession(r.session, rules), 'stopped after boot-file, expected ipxe-dhcp within 60 s');
  assert.equal(statusOf(r.session), 'stalled');
  assert.equal(checkStall(r.session, 10_000 * S, rules).raised, null, 'never raised twice');
  const moved = advance(r.session, ok(500 * S, 'ipxe-dhcp'));
  assert.equal(moved.stalled, null);
  assert.equal(statusOf(moved), 'in-progress');
  // A BIOS boot has the default 30 s.
  const bios = advance(newSession('b', ok(0, 'dhcp', { firmware: 'bios' })), ok(0, 'dhcp', { firmware: 'bios' }));
  assert.equal(checkStall(advance(bios, ok(0, 'boot-file')), 31 * S, rules).raised?.seconds, 30);
});

test('stall names the stage: boot file missing, kernel 404, agent silent; an install step failure is final and never stalls', () => {
  const run = (obs: Observation[]) => {
    const [s] = play(obs);
    return describeSession(checkStall(s, 1e9, rules).session, rules);
  };
  assert.equal(
    run([ok(0, 'dhcp', { firmware: 'bios' }), fail(1 * S, 'boot-file')]),
    'stopped after dhcp, expected boot-file within 30 s (last failure: boot-file: boot-file broke)',
  );
  assert.equal(
    run([ok(0, 'ipxe-dhcp'), ok(1 * S, 'ipxe-script', { purpose: 'discover' }), fail(2 * S, 'kernel')]),
    'stopped after ipxe-script, expected kernel within 60 s (last failure: kernel: kernel broke)',
  );
  assert.equal(
    run([ok(0, 'ipxe-script', { purpose: 'discover' }), ok(1 * S, 'kernel'), ok(2 * S, 'initrd')]),
    'stopped after initrd, expected agent within 300 s',
  );
  const [failed] = play([
    ok(0, 'ipxe-script', { purpose: 'install' }),
    ok(1 * S, 'kernel'),
    ok(2 * S, 'initrd'),
    ok(3 * S, 'install-plan'),
    ok(4 * S, 'install-step'),
    fail(5 * S, 'install-step', true),
    ok(6 * S, 'install-step'), // nothing after a final failure moves the session on
  ]);
  assert.equal(statusOf(failed), 'failed');
  assert.equal(checkStall(failed, 1e9, rules).raised, null);
  assert.equal(describeSession(failed, rules), 'failed at install-step: install-step broke');
});

test('progress: repeated install steps restart the deadline; repeated other stages (retransmissions) do not', () => {
  let s = play([ok(0, 'ipxe-script', { purpose: 'install' }), ok(1 * S, 'kernel'), ok(2 * S, 'initrd')])[0];
  s = advance(s, ok(3 * S, 'install-plan'));
  s = advance(s, ok(4 * S, 'install-step'));
  s = advance(s, ok(1000 * S, 'install-step'));
  assert.equal(s.progressAt, 1000 * S);
  const k = advance(s, ok(2000 * S, 'kernel'));
  assert.equal(k.reached, 'install-step');
  assert.equal(k.progressAt, 1000 * S);
  assert.equal(k.lastAt, 2000 * S);
  // A failure fixed by a later success is cleared.
  const fixed = advance(advance(play([ok(0, 'dhcp')])[0], fail(1 * S, 'boot-file')), ok(2 * S, 'boot-file'));
  assert.equal(fixed.failure, null);
  // A session of a wait or local-disk script expects nothing more.
  assert.equal(expectedNext({ reached: 'ipxe-script', purpose: 'local' }), null);
  assert.equal(expectedNext({ reached: 'ipxe-script', purpose: 'wait' }), null);
});

/** Like play, with the service's two hand-off steps: a new session carries the pending hand-off; first-boot shows its time. */
function playWithHandoff(obs: Observation[]): { sessions: SessionState[]; details: string[] } {
  const sessions: SessionState[] = [];
  const details: string[] = [];
  let s: SessionState | null = null;
  for (const seen of obs) {
    if (!s || opensSession(s, seen, rules)) {
      const fresh = carryHandoff(s, newSession(`s${sessions.length}`, seen));
      if (s) sessions.push(s);
      s = fresh;
    }
    const o = withHandoffTime(s, seen);
    details.push(o.detail);
    s = advance(s, o);
  }
  if (s) sessions.push(s);
  return { sessions, details };
}

test('installed to first boot: kexec joins the install session, a firmware reboot opens one; both show the time since installed', () => {
  const install = [
    ok(0, 'ipxe-script', { purpose: 'install' }),
    ok(1 * S, 'kernel'),
    ok(2 * S, 'initrd'),
    ok(10 * S, 'install-plan'),
    ok(100 * S, 'install-step'),
  ];
  const kexec = playWithHandoff([
    ...install,
    ok(120 * S, 'installed', { handoff: 'kexec' }),
    ok(128 * S, 'os-dhcp'), // the installed kernel's DHCP: no PXE signs, same session
    ok(129.5 * S, 'first-boot', { detail: 'complete (firstboot)' }),
  ]);
  assert.deepEqual(
    kexec.sessions.map((x) => [x.reached, x.purpose, x.handoff]),
    [['first-boot', 'install', undefined]],
  );
  assert.equal(kexec.details.at(-1), 'complete (firstboot), 9.5 s after installed (kexec)');

  const reboot = playWithHandoff([
    ...install,
    ok(120 * S, 'installed', { handoff: 'reboot' }),
    ok(150 * S, 'dhcp', { firmware: 'bios' }),
    ok(151 * S, 'boot-file'),
    ok(153 * S, 'ipxe-dhcp'),
    ok(154 * S, 'ipxe-script', { purpose: 'first-boot' }),
    ok(190 * S, 'first-boot', { detail: 'complete (firstboot)' }),
    // a later reboot of the installed system says nothing about the install
    ok(5000 * S, 'dhcp', { firmware: 'bios' }),
    ok(5004 * S, 'ipxe-script', { purpose: 'first-boot' }),
    ok(5040 * S, 'first-boot', { detail: 'complete (firstboot)' }),
  ]);
  assert.deepEqual(
    reboot.sessions.map((x) => [x.reached, x.purpose]),
    [
      ['installed', 'install'],
      ['first-boot', 'first-boot'],
      ['first-boot', 'first-boot'],
    ],
  );
  assert.deepEqual(
    reboot.details.filter((d) => d.startsWith('complete')),
    ['complete (firstboot), 70.0 s after installed (reboot)', 'complete (firstboot)'],
  );
  // An installer that does not say how it hands off (every other profile's) still gets the time.
  const silent = playWithHandoff([...install, ok(120 * S, 'installed'), ok(130 * S, 'first-boot', { detail: 'c' })]);
  assert.equal(silent.details.at(-1), 'c, 10.0 s after installed');
});

test('a queued host (boot waiting room) expects its kernel, and asking again now and then keeps it from stalling', () => {
  const t0 = 1_000_000;
  let s = newSession('s-queued', ok(t0, 'dhcp', { firmware: 'bios' }));
  for (const o of [ok(t0 + 1000, 'boot-file'), ok(t0 + 2000, 'ipxe-dhcp')]) s = advance(s, o);
  s = advance(s, ok(t0 + 3000, 'ipxe-script', { purpose: 'queued' }));
  assert.equal(expectedNext(s), 'kernel');
  assert.equal(statusOf(s), 'in-progress');
  // Asked again 2 s later: a repeat, not progress. 20 s later: progress, so the kernel's deadline starts again.
  s = advance(s, ok(t0 + 5000, 'ipxe-script', { purpose: 'queued' }));
  assert.equal(s.progressAt, t0 + 3000);
  for (let at = t0 + 23_000; at <= t0 + 600_000; at += 20_000) {
    s = advance(s, ok(at, 'ipxe-script', { purpose: 'queued' }));
    assert.equal(s.progressAt, at);
    assert.equal(checkStall(s, at + 19_000, rules).raised, null);
  }
  // Silent past the kernel's deadline: stalled, expecting the kernel.
  const quiet = checkStall(s, s.progressAt + (rules.deadlines.kernel + 1) * 1000, rules);
  assert.equal(quiet.raised?.expected, 'kernel');
  // Let through: the script now loads a kernel.
  s = advance(s, ok(t0 + 601_000, 'ipxe-script', { purpose: 'discover' }));
  assert.equal(s.purpose, 'discover');
  assert.equal(expectedNext(s), 'kernel');
});
