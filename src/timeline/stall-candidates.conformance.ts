import assert from 'node:assert/strict';
import type { SessionRow, TimelineStore } from './sql-timeline-store.js';

const session = (mac: string, n: number, updatedAt = `2026-12-07T08:00:0${n}.000Z`): SessionRow => ({
  mac,
  sessionId: `${mac}-s${n}`,
  hostId: null,
  hostName: `node-${mac}`,
  startedAt: `2026-12-07T08:00:0${n}.000Z`,
  updatedAt,
  state: '{}',
});

/**
 * The stall check's paged read, run against each store (SQLite, PostgreSQL): walked a page of three sessions at a
 * time, it gives each MAC once with its newest session updated since `since`, also for a MAC with more sessions
 * than a page, and says where each next page starts. `store` must be empty.
 */
export async function checkStallCandidatePaging(store: TimelineStore): Promise<void> {
  await store.write(
    [
      ...[1, 2, 3, 4, 5].map((n) => session('aa', n)), // five sessions: more than a page of three
      session('bb', 1),
      session('cc', 2),
      session('dd', 3),
      session('ee', 4, '2026-12-06T00:00:00.000Z'), // updated before `since`: not a candidate
    ],
    [],
  );
  const seen: string[] = [];
  const starts: Array<string | null> = [];
  let afterMac: string | null = null;
  do {
    starts.push(afterMac);
    const page = await store.stallCandidates({ since: '2026-12-07T00:00:00.000Z', afterMac, limit: 3 });
    seen.push(...page.candidates.map((c) => c.sessionId));
    afterMac = page.nextMac;
  } while (afterMac !== null);
  assert.deepEqual(seen, ['aa-s5', 'bb-s1', 'cc-s2', 'dd-s3']);
  assert.deepEqual(starts, [null, 'aa', 'dd'], 'the last page is the one read short');
}
