import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { fifoGate, openSqlite } from './database.js';

test('fifoGate: one holder at a time, handed over in arrival order', async () => {
  const gate = fifoGate();
  const order: number[] = [];
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 3000 }, async (_, i) => {
      await gate.enter();
      inside++;
      most = Math.max(most, inside);
      order.push(i);
      await Promise.resolve();
      inside--;
      gate.leave();
    }),
  );
  assert.equal(most, 1, 'never two holders');
  assert.deepEqual(
    order,
    Array.from({ length: 3000 }, (_, i) => i),
    'arrival order',
  );
  // Free again: the next caller enters at once.
  await gate.enter();
  gate.leave();
});

test('SQLite store: thousands of queries waiting at once all complete, in the order they were issued', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-db-'));
  const store = openSqlite(join(dir, 'k.sqlite'));
  try {
    const done: number[] = [];
    const n = 5000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        sql<{ v: number }>`select ${i} as v`.execute(store.db).then((r) => {
          done.push(i);
          return r.rows[0]!.v;
        }),
      ),
    );
    assert.deepEqual(
      results,
      Array.from({ length: n }, (_, i) => i),
    );
    assert.deepEqual(
      done,
      Array.from({ length: n }, (_, i) => i),
      'first come, first served (Kysely alone wakes every waiter on each release)',
    );
    // A transaction still holds the connection for its whole span.
    await store.db.transaction().execute(async (tx) => {
      await sql`select 1`.execute(tx);
    });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
