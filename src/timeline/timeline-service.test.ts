import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootSessionId } from '../boot/boot-session.js';
import type { NewEvent } from '../event/event.js';
import type { Mac } from '../net/mac.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createSqlTimelineStore } from './sql-timeline-store.js';
import { defaultTimelineConfig } from './timeline-config.js';
import { createTimelineService, type TimelineHost } from './timeline-service.js';

const MAC = '52:54:00:aa:bb:01' as Mac;
const host: TimelineHost = { id: 'h1', name: 'web1', macs: [MAC] };
const T0 = Date.parse('2026-12-06T08:00:00.000Z');

async function bed() {
  const db = openSqlite(':memory:');
  await migrateToLatest(db.db);
  const store = createSqlTimelineStore(db.db);
  const clock = { t: T0 };
  const events: NewEvent[] = [];
  const make = () =>
    createTimelineService({
      store,
      config: defaultTimelineConfig,
      lookups: {
        hostByMac: async (m) => (m === MAC ? host : null),
        hostById: async (id) => (id === 'h1' ? host : null),
        leaseOwner: async (ip) => (ip === '10.0.0.9' ? MAC : null),
      },
      recordIn: async (_tx, e) => {
        events.push(e);
      },
      transaction: (fn) =>
        db.db
          .transaction()
          .execute(fn)
          .then(() => true),
      now: () => clock.t,
    });
  return { db, store, clock, events, make };
}

test('a boot mints one session (the HPS id of host name and boot time), files every stage under it, and persists it', async () => {
  const b = await bed();
  const tl = b.make();
  const id = await tl.observe({ mac: MAC }, { stage: 'dhcp', outcome: 'ok', firmware: 'bios', detail: 'ack' });
  assert.equal(id, bootSessionId('web1', new Date(T0)));
  b.clock.t += 1000;
  // TFTP knows only the address: the lease says whose it is.
  assert.equal(
    await tl.observe({ ip: '10.0.0.9' }, { stage: 'boot-file', outcome: 'ok', detail: 'undionly.kpxe' }),
    id,
  );
  b.clock.t += 1000;
  await tl.observe({ mac: MAC }, { stage: 'ipxe-dhcp', outcome: 'ok', detail: 'ack' });
  assert.equal(tl.sessionFor(MAC, host), id, 'the script of this boot carries its session');
  await tl.observe({ mac: MAC }, { stage: 'ipxe-script', outcome: 'ok', purpose: 'discover', detail: 'script' });
  assert.deepEqual(
    tl.bootLoad(),
    { inProgress: 1, late: 0, started: 1, completed: 0, completedPerS: 0, medianMs: null },
    'admission control sees one boot in progress',
  );
  b.clock.t += 31_000; // half of the kernel's 60 s passed without it
  assert.deepEqual(
    tl.bootLoad(),
    { inProgress: 1, late: 1, started: 1, completed: 0, completedPerS: 0, medianMs: null },
    'and then late at its stage',
  );
  b.clock.t -= 31_000;
  // A node API call by host id, naming its session.
  await tl.observe({ hostId: 'h1' }, { stage: 'facts', outcome: 'ok', detail: 'report', session: id });
  assert.equal(await tl.observe({ ip: '10.9.9.9' }, { stage: 'kernel', outcome: 'ok', detail: 'x' }), null, 'unknown');
  const t = await tl.timeline(host);
  assert.ok(t);
  assert.equal(t.session, id);
  assert.deepEqual(
    t.stages.map((s) => s.stage),
    ['dhcp', 'boot-file', 'ipxe-dhcp', 'ipxe-script', 'facts'],
  );
  assert.equal(t.status, 'complete');
  assert.deepEqual(
    tl.bootLoad(),
    { inProgress: 0, late: 0, started: 1, completed: 1, completedPerS: 0.1, medianMs: 2000 },
    'a complete boot is not in progress',
  );
  await tl.observe({ hostId: 'h1' }, { stage: 'facts', outcome: 'ok', detail: 'report', session: id });
  assert.equal(tl.bootLoad().completed, 1, 'a complete boot completes once');
  await tl.close();

  // A restart keeps the current session: the next observation of this boot joins it.
  const again = b.make();
  await again.start();
  b.clock.t += 5000;
  assert.equal(await again.observe({ mac: MAC }, { stage: 'os-dhcp', outcome: 'ok', detail: 'renew' }), id);
  // The next power-on is a new session, listed first.
  b.clock.t += 60_000;
  const next = await again.observe({ mac: MAC }, { stage: 'dhcp', outcome: 'ok', firmware: 'bios', detail: 'ack' });
  assert.notEqual(next, id);
  assert.deepEqual(
    (await again.sessions(host)).map((s) => s.session),
    [next, id],
  );
  assert.equal((await again.timeline(host, id!))?.stages.length, 6);
  await again.close();
  await b.db.close();
});

test('a silent host raises one boot.stalled event naming its stage; later checks and a restart do not repeat it', async () => {
  const b = await bed();
  const tl = b.make();
  const id = await tl.observe({ mac: MAC }, { stage: 'ipxe-script', outcome: 'ok', purpose: 'discover', detail: 's' });
  await tl.observe({ mac: MAC }, { stage: 'kernel', outcome: 'ok', detail: 'k' });
  await tl.observe({ mac: MAC }, { stage: 'initrd', outcome: 'ok', detail: 'i' });
  b.clock.t += 300_000;
  assert.equal(await tl.check(), 0, 'at the deadline');
  b.clock.t += 1;
  assert.equal(await tl.check(), 1);
  assert.equal(await tl.check(), 0);
  assert.deepEqual(
    tl.bootLoad(),
    { inProgress: 1, late: 1, started: 1, completed: 0, completedPerS: 0, medianMs: null },
    'a stalled boot may still be downloading: admission control counts it in progress, and late',
  );
  assert.equal(b.events.length, 1);
  const e = b.events[0];
  assert.equal(e.kind, 'boot.stalled');
  assert.equal(e.hostId, 'h1');
  assert.match(e.message, /stopped after initrd, expected agent within 300 s/);
  assert.deepEqual(e.data, {
    mac: MAC,
    session: id,
    after: 'initrd',
    expected: 'agent',
    seconds: 300,
    firmware: 'ipxe',
  });
  assert.equal((await tl.timeline(host))?.summary, 'stopped after initrd, expected agent within 300 s');
  await tl.close();
  const again = b.make();
  await again.start();
  b.clock.t += 600_000;
  assert.equal(await again.check(), 0, 'the stall was persisted');
  await again.close();
  await b.db.close();
});

test('a node failure is final: the timeline says failed at that stage and no stall follows', async () => {
  const b = await bed();
  const tl = b.make();
  await tl.observe({ mac: MAC }, { stage: 'ipxe-script', outcome: 'ok', purpose: 'install', detail: 's' });
  await tl.observe({ hostId: 'h1' }, { stage: 'install-plan', outcome: 'ok', detail: 'ks.cfg' });
  await tl.observe({ hostId: 'h1' }, { stage: 'install-step', outcome: 'failed', final: true, detail: 'late: exit 1' });
  b.clock.t += 86_400_000;
  assert.equal(await tl.check(), 0);
  const t = await tl.timeline(host);
  assert.equal(t?.status, 'failed');
  assert.equal(t?.summary, 'failed at install-step: late: exit 1');
  await tl.close();
  await b.db.close();
});

test('retention: sessions past the per-host count are pruned with their observations', async () => {
  const b = await bed();
  const tl = b.make();
  for (let i = 0; i < 55; i++) {
    b.clock.t += 3600_000;
    await tl.observe({ mac: MAC }, { stage: 'dhcp', outcome: 'ok', firmware: 'bios', detail: 'ack' });
  }
  await tl.flush();
  assert.equal(await b.store.prune({ before: new Date(T0).toISOString(), perMac: 50 }), 5);
  assert.equal((await tl.sessions(host)).length, 50);
  await tl.close();
  await b.db.close();
});

test('boots are recorded, not fetches: a repeat of the last observation stores no row but moves the session on; a new boot or new content is stored', async () => {
  const b = await bed();
  const tl = b.make();
  const script = {
    stage: 'ipxe-script',
    outcome: 'ok',
    purpose: 'wait',
    detail: 'per-host script: web1 failed',
  } as const;
  const id = tl.sessionFor(MAC, host);
  for (let i = 0; i < 50; i++) {
    assert.equal(await tl.observe({ mac: MAC }, script), id);
    b.clock.t += 10_000; // a wait script retried every 10 s
  }
  await tl.observe({ mac: MAC }, { ...script, detail: 'per-host script: web1 is ready: booting from local disk' });
  const t = await tl.timeline(host);
  assert.deepEqual(
    t?.stages.map((s) => s.detail),
    ['per-host script: web1 failed', 'per-host script: web1 is ready: booting from local disk'],
  );
  // The session's last-seen time moved on with the repeats (shown from memory; the row is rewritten at most once a minute).
  assert.equal(t?.updatedAt, new Date(T0 + 500_000).toISOString());
  const rows = await b.store.listSessions({ macs: [MAC], hostId: 'h1', limit: 10 });
  assert.ok(Date.parse(rows[0]!.updatedAt) >= T0 + 500_000 - 60_000, `stored ${rows[0]!.updatedAt}`);
  // The same content in the next boot (after the gap) is that boot's first observation: stored.
  b.clock.t += 3600_000;
  const next = tl.sessionFor(MAC, host);
  assert.notEqual(next, id);
  await tl.observe({ mac: MAC }, script);
  assert.deepEqual(
    (await tl.timeline(host, next))?.stages.map((s) => s.detail),
    ['per-host script: web1 failed'],
  );
  await tl.close();
  await b.db.close();
});

test('installed to first boot across a firmware reboot: the new session shows the time since installed, also after a restart', async () => {
  const b = await bed();
  const tl = b.make();
  await tl.observe({ mac: MAC }, { stage: 'ipxe-script', outcome: 'ok', purpose: 'install', detail: 's' });
  await tl.observe({ hostId: 'h1' }, { stage: 'install-plan', outcome: 'ok', detail: 'install plan fetched' });
  b.clock.t += 60_000;
  await tl.observe({ hostId: 'h1' }, { stage: 'installed', outcome: 'ok', handoff: 'reboot', detail: 'installed' });
  await tl.close();
  // The controller restarts while the host reboots: the pending hand-off is kept with the session.
  const again = b.make();
  await again.start();
  b.clock.t += 30_000;
  const first = again.sessionFor(MAC, host);
  b.clock.t += 12_345;
  await again.observe({ hostId: 'h1' }, { stage: 'first-boot', outcome: 'ok', detail: 'complete (firstboot)' });
  const t = await again.timeline(host);
  assert.equal(t?.session, first);
  assert.deepEqual(
    t?.stages.map((x) => x.detail),
    ['complete (firstboot), 42.3 s after installed (reboot)'],
  );
  assert.equal(t?.status, 'complete');
  await again.close();
  await b.db.close();
});

test('two controllers on one store: the boot-stalls holder judges a boot the other observed, once per stall, and a refused write raises nothing', async () => {
  const b = await bed();
  const observer = b.make(); // serves the boot
  const holder = b.make(); // holds boot-stalls: never saw the boot
  const id = await observer.observe(
    { mac: MAC },
    { stage: 'ipxe-script', outcome: 'ok', purpose: 'discover', detail: 's' },
  );
  await observer.observe({ mac: MAC }, { stage: 'kernel', outcome: 'ok', detail: 'k' });
  await observer.flush();
  b.clock.t += 300_001;
  assert.equal(await holder.check(async () => false), 0, 'a refused (fenced) write raises nothing');
  assert.equal(b.events.length, 0);
  assert.equal(await holder.check(), 1);
  assert.equal(await holder.check(), 0);
  assert.equal(await observer.check(), 0, 'the observer, checking too, finds it reported');
  assert.deepEqual(
    b.events.map((e) => [e.kind, (e.data as { session: string }).session]),
    [['boot.stalled', id]],
  );
  // The observer writes the session again (a repeat a minute later moves its last-seen): its copy never stalled,
  // but the stall stays reported for that progress.
  b.clock.t += 60_000;
  await observer.observe({ mac: MAC }, { stage: 'kernel', outcome: 'ok', detail: 'k' });
  await observer.flush();
  assert.equal(await holder.check(), 0, 'no second event for the same stall');
  // Progress, then silence again: a new stall, a new event.
  await observer.observe({ mac: MAC }, { stage: 'initrd', outcome: 'ok', detail: 'i' });
  await observer.flush();
  b.clock.t += 300_001;
  assert.equal(await holder.check(), 1);
  assert.equal(b.events.length, 2);
  assert.match(b.events[1].message, /stopped after initrd/);
  await observer.close();
  await holder.close();
  await b.db.close();
});

test('the stall check reads the sessions a page at a time: every stalled boot of more than a page raises once, and the event loop runs between pages', async () => {
  const b = await bed();
  const tl = b.make();
  const macs = Array.from(
    { length: 600 },
    (_, i) => `52:54:00:cc:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` as Mac,
  );
  for (const mac of macs) {
    await tl.observe({ mac }, { stage: 'ipxe-script', outcome: 'ok', purpose: 'discover', detail: 's' });
    await tl.observe({ mac }, { stage: 'kernel', outcome: 'ok', detail: 'k' });
  }
  await tl.flush();
  b.clock.t += 300_001;
  // A chain of setImmediate callbacks advances only when the check gives the event loop a turn.
  let turns = 0;
  let checking = true;
  const spin = () => {
    turns++;
    if (checking) setImmediate(spin);
  };
  setImmediate(spin);
  const raised = await tl.check();
  checking = false;
  assert.equal(raised, 600);
  assert.equal(new Set(b.events.map((e) => (e.data as { mac: string }).mac)).size, 600, 'one event per MAC');
  assert.ok(turns >= 2, `the event loop ran between pages (${turns} turns)`);
  assert.equal(await tl.check(), 0, 'reported once');
  await tl.close();
  await b.db.close();
});
