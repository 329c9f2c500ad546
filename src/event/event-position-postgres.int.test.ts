// Event positions on PostgreSQL follow commit order: a reader that resumes after the newest position it has
// seen never skips an event committed later by a transaction that started its append earlier.
// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import type { Database } from '../schema.js';
import { openDatabase, type OpenDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { appendEvent, listEvents } from './event-log.js';
import type { NewEvent } from './event.js';

const event = (subject: string): NewEvent => ({ actor: 'test', kind: 'test.made', subject, message: subject });
const at = '2026-01-01T00:00:00.000Z';

/** A transaction held open until `commit()` is called: `ready` settles once `body` has run inside it. */
function openTx(db: Kysely<Database>, body: (tx: Kysely<Database>) => Promise<void>) {
  let commit!: () => void;
  const gate = new Promise<void>((r) => (commit = r));
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const done = db.transaction().execute(async (tx) => {
    await body(tx);
    ready();
    await gate;
  });
  return { started, done, commit };
}

/** Polls like the live feed does: everything after the last position seen. */
function reader(db: Kysely<Database>) {
  let last = 0;
  const seen: string[] = [];
  return {
    seen,
    async poll() {
      const got = await listEvents(db, { after: last, limit: 1000 });
      for (const e of got) seen.push(e.subject!);
      if (got.length) last = got.at(-1)!.seq;
    },
  };
}

describe('event positions on PostgreSQL', () => {
  let pg: TempPostgres;
  let store: OpenDatabase;
  before(async () => {
    pg = await createTempPostgres('evpos');
    store = await openDatabase({ dataDir: '', databaseUrl: pg.url });
    await migrateToLatest(store.db);
  });
  after(async () => {
    await store.close();
    await pg.drop();
  });

  it('without the append lock a sequence skips (why the lock exists)', async () => {
    const db = store.db;
    const r = reader(db);
    await r.poll();
    const raw = (tx: Kysely<Database>, s: string) =>
      tx
        .insertInto('events')
        .values({ at, actor: 'test', kind: 'test.raw', message: s, subject: s })
        .execute()
        .then(() => {});
    const first = openTx(db, (tx) => raw(tx, 'raw-1'));
    await first.started;
    const second = openTx(db, (tx) => raw(tx, 'raw-2'));
    await second.started;
    second.commit();
    await second.done;
    await r.poll();
    first.commit();
    await first.done;
    await r.poll();
    assert.deepEqual(r.seen, ['raw-2'], 'raw-1 took the smaller seq, committed last, and the reader never sees it');
  });

  it('with appendEvent, the first to take a position commits first; a reader polling in between never skips', async () => {
    const db = store.db;
    const r = reader(db);
    await r.poll();
    r.seen.length = 0;
    const first = openTx(db, (tx) => appendEvent(tx, event('a'), at));
    await first.started;
    // The second append waits on the first transaction's lock; polls meanwhile see neither.
    let secondIn = false;
    const second = openTx(db, async (tx) => {
      await appendEvent(tx, event('b'), at);
      secondIn = true;
    });
    await sleep(200);
    assert.equal(secondIn, false, 'the second append waits for the first transaction');
    await r.poll();
    assert.deepEqual(r.seen, []);
    // A third, lone append queues behind both.
    const third = appendEvent(db, event('c'), at);
    await sleep(50);
    await r.poll();
    first.commit();
    await first.done;
    await second.started;
    await r.poll();
    second.commit();
    await second.done;
    await third;
    await r.poll();
    assert.deepEqual(r.seen, ['a', 'b', 'c']);
    const all = await listEvents(db, { kind: 'test.made', limit: 10 });
    assert.deepEqual(
      all.map((e) => e.subject),
      ['a', 'b', 'c'],
    );
  });

  it('many concurrent appenders: every event is seen once, in position order, by a reader polling throughout', async () => {
    const db = store.db;
    const r = reader(db);
    await r.poll();
    r.seen.length = 0;
    let stop = false;
    const polling = (async () => {
      while (!stop) {
        await r.poll();
        await sleep(1);
      }
    })();
    const n = 400;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        db.transaction().execute(async (tx) => {
          await appendEvent(tx, event(`m${i}`), at);
          await sleep(i % 3); // other work in the same transaction, after the append
        }),
      ),
    );
    const lockedMs = performance.now() - t0;
    stop = true;
    await polling;
    await r.poll();
    assert.equal(r.seen.length, n);
    assert.equal(new Set(r.seen).size, n);
    // The cost, for docs/adr/0008: the same load with a plain insert (no lock).
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        db.transaction().execute(async (tx) => {
          await tx
            .insertInto('events')
            .values({ at, actor: 'test', kind: 'test.raw', message: 'x', subject: `u${i}` })
            .execute();
          await sleep(i % 3);
        }),
      ),
    );
    const plainMs = performance.now() - t1;
    console.log(
      `event appends, ${n} transactions on a 10-connection pool: with the append lock ${lockedMs.toFixed(0)} ms, plain insert ${plainMs.toFixed(0)} ms`,
    );
  });
});
