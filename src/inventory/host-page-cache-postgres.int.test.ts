import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';
import { createInventoryService } from './inventory-service.js';
import { listenForHostChanges } from './host-change-notify.js';
import { listHostDocs } from './sql-host-store.js';
import { EVENTS_CHANNEL } from '../event/sql-event-store.js';

const ctx = { actor: 'test' };
const noSeal = { seal: (s: string) => s, open: (s: string) => s };
/** Bounded wait for a notification (it normally arrives in milliseconds; the bound only stops a broken test). */
const within = <T>(p: Promise<T>, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 30 s`)), 30_000).unref()),
  ]);

// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
test("on PostgreSQL a controller's cached host list pages follow another controller's changes (LISTEN/NOTIFY)", async () => {
  const pg = await createTempPostgres('hostpages');
  const a = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  const b = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  let listening: { close(): Promise<void> } | undefined;
  try {
    await migrateToLatest(a.db);
    const first = createInventoryService({ db: a.db, ...noSeal });
    const second = createInventoryService({ db: b.db, ...noSeal });
    for (const name of ['p1', 'p2', 'p3']) await first.createHost({ name, nics: [], tags: ['t'] }, ctx);
    const f = { tag: 't', limit: 101 };
    // Without its listener the second controller keeps nothing.
    await second.listHostDocs(f);
    await second.listHostDocs(f);
    assert.equal(second.hostPages.stats().pages, 0);

    let live: () => void = () => {};
    const isLive = new Promise<void>((r) => (live = r));
    let heard: () => void = () => {};
    listening = listenForHostChanges({
      url: pg.url,
      alsoChannels: [EVENTS_CHANNEL],
      pages: {
        setLive(on) {
          second.hostPages.setLive(on);
          if (on) live();
        },
        changed() {
          second.hostPages.changed();
          heard();
        },
      },
    });
    await within(isLive, 'LISTEN');
    const cached = await second.listHostDocs(f);
    assert.equal(await second.listHostDocs(f), cached, 'listening: the repeated page comes from memory');

    const notified = new Promise<void>((r) => (heard = r));
    await first.updateHost('p2', { tags: ['u'] }, ctx);
    await within(notified, 'host change notification');
    assert.deepEqual(
      (await second.listHostDocs(f)).map((r) => r.name),
      ['p1', 'p3'],
    );
    assert.deepEqual([...(await second.listHostDocs(f))], await listHostDocs(b.db, f));

    await listening.close();
    listening = undefined;
    await second.listHostDocs(f);
    assert.equal(second.hostPages.stats().pages, 0, 'the listener closed: nothing kept');
  } finally {
    await listening?.close();
    await a.close();
    await b.close();
    await pg.drop();
  }
});
