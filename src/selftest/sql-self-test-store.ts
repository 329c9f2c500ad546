import type { Kysely } from 'kysely';
import type { SelfTestTables } from './self-test-tables.js';
import type { SelfTestRun } from './self-test.js';

/** Runs kept per host; older ones are deleted when a new one is put. */
export const RUNS_KEPT_PER_HOST = 20;

type Row = SelfTestTables['self_test_runs'];

const toRun = (r: Row): SelfTestRun => ({
  id: r.id,
  hostId: r.host_id,
  tests: r.tests.split(',').filter(Boolean) as SelfTestRun['tests'],
  destructive: Number(r.destructive) === 1,
  options: JSON.parse(r.options) as SelfTestRun['options'],
  requestedBy: r.requested_by,
  requestedAt: r.requested_at,
  finishedAt: r.finished_at,
  outcome: r.outcome as SelfTestRun['outcome'],
  results: JSON.parse(r.results) as SelfTestRun['results'],
});

const toRow = (run: SelfTestRun): Row => ({
  id: run.id,
  host_id: run.hostId,
  tests: run.tests.join(','),
  destructive: run.destructive ? 1 : 0,
  options: JSON.stringify(run.options),
  requested_by: run.requestedBy,
  requested_at: run.requestedAt,
  finished_at: run.finishedAt,
  outcome: run.outcome,
  results: JSON.stringify(run.results),
});

/** Inserts or replaces a run by id, then keeps the host's newest `RUNS_KEPT_PER_HOST`. */
export async function putRun(db: Kysely<SelfTestTables>, run: SelfTestRun): Promise<void> {
  const row = toRow(run);
  const { id: _id, ...rest } = row;
  const updated = await db.updateTable('self_test_runs').set(rest).where('id', '=', run.id).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) await db.insertInto('self_test_runs').values(row).execute();
  const keep = await db
    .selectFrom('self_test_runs')
    .select('id')
    .where('host_id', '=', run.hostId)
    .orderBy('requested_at', 'desc')
    .orderBy('id', 'desc')
    .limit(RUNS_KEPT_PER_HOST)
    .execute();
  await db
    .deleteFrom('self_test_runs')
    .where('host_id', '=', run.hostId)
    .where(
      'id',
      'not in',
      keep.map((k) => k.id),
    )
    .execute();
}

/** The host's runs, newest first (at most `limit`). */
export async function listRuns(db: Kysely<SelfTestTables>, hostId: string, limit: number): Promise<SelfTestRun[]> {
  const rows = await db
    .selectFrom('self_test_runs')
    .selectAll()
    .where('host_id', '=', hostId)
    .orderBy('requested_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toRun);
}

/** The host's oldest unfinished run, or null. */
export async function getPendingRun(db: Kysely<SelfTestTables>, hostId: string): Promise<SelfTestRun | null> {
  const r = await db
    .selectFrom('self_test_runs')
    .selectAll()
    .where('host_id', '=', hostId)
    .where('finished_at', 'is', null)
    .orderBy('requested_at')
    .orderBy('id')
    .executeTakeFirst();
  return r ? toRun(r) : null;
}

/** One run by id, or null. */
export async function getRun(db: Kysely<SelfTestTables>, id: string): Promise<SelfTestRun | null> {
  const r = await db.selectFrom('self_test_runs').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toRun(r) : null;
}
