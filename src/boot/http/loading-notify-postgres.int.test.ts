import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../store/database.js';
import { createTempPostgres } from '../../../test/support/postgres.js';
import { createLoadingGate, defaultLoadingGateRules } from './loading-gate.js';
import {
  decodeLoadedNotice,
  encodeLoadedNotice,
  listenForLoads,
  newLoadingOrigin,
  notifyLoaded,
} from './loading-notify.js';

/** Bounded wait (a notification normally arrives in milliseconds; the bound only stops a broken test). */
const within = <T>(p: Promise<T>, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 30 s`)), 30_000).unref()),
  ]);

test('loading notices: encoded and decoded; anything else is not a notice', () => {
  assert.deepEqual(decodeLoadedNotice(encodeLoadedNotice('0a1b2c', '10.76.1.2')), {
    origin: '0a1b2c',
    from: '10.76.1.2',
  });
  assert.equal(decodeLoadedNotice(''), undefined);
  assert.equal(decodeLoadedNotice('0a1b2c'), undefined);
  assert.equal(decodeLoadedNotice('not-hex 10.0.0.1'), undefined);
  assert.equal(decodeLoadedNotice('0a1b2c 10.0.0.1 extra'), undefined);
});

// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
test("on PostgreSQL a load served by another member frees this member's slot for it (LISTEN/NOTIFY)", async () => {
  const pg = await createTempPostgres('loading');
  const b = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  const gate = createLoadingGate({ ...defaultLoadingGateRules, maxLoading: 1 });
  const origin = newLoadingOrigin();
  let listening: { close(): Promise<void> } | undefined;
  try {
    let live: () => void = () => {};
    const isLive = new Promise<void>((r) => (live = r));
    let heard: (from: string) => void = () => {};
    listening = listenForLoads({
      url: pg.url,
      origin,
      listening: () => live(),
      loaded: (from) => {
        gate.loaded(from, 1_000);
        heard(from);
      },
    });
    await within(isLive, 'LISTEN');
    // Member A (this gate) gives its one slot to a machine at 10.76.1.2; a second machine waits.
    assert.deepEqual(gate.ask('m1', 0, false, '10.76.1.2'), { admit: true });
    assert.equal(gate.ask('m2', 0, false, '10.76.1.3').admit, false);
    // A notice of A's own is skipped; member B's notice that the load from 10.76.1.2 finished there frees the slot.
    const got = new Promise<string>((r) => (heard = r));
    await notifyLoaded(b.db, origin, '10.76.1.2');
    await notifyLoaded(b.db, newLoadingOrigin(), '10.76.1.2');
    assert.equal(await within(got, 'loading notice'), '10.76.1.2');
    assert.equal(gate.stats(1_000).loading, 0);
    assert.deepEqual(gate.ask('m2', 1_000, false, '10.76.1.3'), { admit: true });
  } finally {
    await listening?.close();
    await b.close();
    await pg.drop();
  }
});
