// The member heartbeat on a real SQLite file, written by its worker thread: it keeps beating while this (the main)
// thread is blocked by a busy loop, holds back once the main loop sent no pulse for longer than the stall bound and
// goes on when it is back, and writes nothing after close or onto a stopped member's row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createMemoryLogger } from '../log/logger.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { startMemberHeartbeat } from './member-heartbeat.js';
import { putMember } from './sql-cluster-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks this thread's event loop for `ms` (bounded busy loop); returns when it started and ended. */
function busy(ms: number): { from: number; to: number } {
  const from = Date.now();
  while (Date.now() - from < ms) {
    /* the main loop is busy */
  }
  return { from, to: Date.now() };
}

test('the heartbeat thread beats while the main loop is busy, holds back while it is wedged, and stops at close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-member-heartbeat-'));
  const file = join(dir, 'kiln.sqlite');
  const store = openSqlite(file);
  await migrateToLatest(store.db);
  const start = new Date().toISOString();
  const member = {
    id: 'm1',
    name: 'm1',
    url: 'http://192.0.2.1:8080',
    apiUrl: null,
    version: '0.1.0',
    startedAt: start,
  };
  await putMember(store.db, { ...member, lastSeen: start });
  const reader = new BetterSqlite3(file, { readonly: true });
  const row = reader.prepare<[string], { last_seen: string }>('select last_seen from controllers where id = ?');
  const lastSeen = (id = 'm1') => Date.parse(row.get(id)!.last_seen);
  const log = createMemoryLogger();
  try {
    // Beats every 100 ms; none once the main loop sent no pulse (every 100 ms here) for 1 s.
    const hb = startMemberHeartbeat({
      store: { kind: 'sqlite', file },
      memberId: 'm1',
      everyMs: 100,
      stallMs: 1000,
      log,
    });
    await hb.ready();
    await sleep(300);
    // Busy, not wedged: an 800 ms busy loop here; the worker's beats go on meanwhile.
    const blocked = busy(800);
    const during = lastSeen();
    assert.ok(
      during >= blocked.from + 400,
      `last_seen moved while the main loop was blocked (${during - blocked.from} ms into the 800 ms block)`,
    );
    // Wedged: a 2.5 s busy loop, longer than the pulse bound: the beats stop about 1 s in, and go on after it.
    await sleep(300);
    const stuck = busy(2500);
    const held = lastSeen();
    assert.ok(
      held <= stuck.to - 1000,
      `no beat in the last second of a 2.5 s wedge (the last ${stuck.to - held} ms before its end)`,
    );
    await sleep(500);
    assert.ok(lastSeen() >= stuck.to, 'beats again once the main loop pulses');
    const said = log.lines.map((l) => l.msg ?? '');
    assert.ok(
      said.some((l) => l.includes('sent no pulse for too long')) && said.some((l) => l.includes('is back')),
      said.join('\n'),
    );

    // A stopped member's row keeps its stop time.
    await store.db.updateTable('controllers').set({ stopped_at: start, last_seen: start }).execute();
    await sleep(300);
    assert.equal(row.get('m1')!.last_seen, start, "a stopped member's last_seen is its stop");
    // Closed: no beat after it (the row made live again to see one).
    await hb.close();
    await store.db.updateTable('controllers').set({ stopped_at: null }).execute();
    await sleep(300);
    assert.equal(row.get('m1')!.last_seen, start, 'no beat after close');
  } finally {
    reader.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
