import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clonedComment, MAX_IDLE_MS, staleTemplates, usedComment, type DatabaseRow } from './stale-templates.js';

const NOW = Date.UTC(2026, 11, 7, 18);
const CURRENT = `kiln_tpl_${'a'.repeat(16)}`;
const OTHER = `kiln_tpl_${'b'.repeat(16)}`;
const LIVE = 100; // a live test process
const DEAD = 200;
const db = (name: string, comment: string | null = null, connections = 0): DatabaseRow => ({
  name,
  comment,
  connections,
});
const idle = (ms: number) => usedComment(NOW - ms);

test('which template databases a prune drops or stamps: one named case per branch', () => {
  const cases: Array<{ name: string; databases: DatabaseRow[]; drop: string[]; stamp?: string[] }> = [
    { name: "this checkout's template, however old", databases: [db(CURRENT, idle(10 * MAX_IDLE_MS))], drop: [] },
    { name: "another set's, unused for over a day", databases: [db(OTHER, idle(MAX_IDLE_MS + 1))], drop: [OTHER] },
    { name: "another set's, used within the day (another checkout)", databases: [db(OTHER, idle(3600_000))], drop: [] },
    {
      name: 'unstamped (older than the stamps): stamped, not dropped, so its idle time starts now',
      databases: [db(OTHER)],
      drop: [],
      stamp: [OTHER],
    },
    {
      name: 'a session connected to it',
      databases: [db(OTHER, idle(MAX_IDLE_MS + 1), 1)],
      drop: [],
    },
    {
      name: 'a live test run cloned from it',
      databases: [db(OTHER, idle(MAX_IDLE_MS + 1)), db(`kiln_t${LIVE}_x_1`, clonedComment(OTHER))],
      drop: [],
    },
    {
      name: 'a dead test run cloned from it does not hold it (and its database goes too)',
      databases: [db(OTHER, idle(MAX_IDLE_MS + 1)), db(`kiln_t${DEAD}_x_1`, clonedComment(OTHER))],
      drop: [OTHER, `kiln_t${DEAD}_x_1`],
    },
    {
      name: "a dead run's test database goes; a live run's stays, and so does a dead one's still connected",
      databases: [
        db(`kiln_t${DEAD}_x_1`, clonedComment(CURRENT)),
        db(`kiln_t${LIVE}_y_2`, clonedComment(CURRENT)),
        db(`kiln_t${DEAD}_z_3`, clonedComment(CURRENT), 1),
      ],
      drop: [`kiln_t${DEAD}_x_1`],
    },
    {
      name: 'a live run that names no template (an older checkout): nothing dropped',
      databases: [db(OTHER, idle(MAX_IDLE_MS + 1)), db(`kiln_t${LIVE}_x_1`)],
      drop: [],
    },
    {
      name: 'a template left half-migrated by a dead process',
      databases: [db(`${OTHER}_${DEAD}`), db(`${CURRENT}_${LIVE}`)],
      drop: [`${OTHER}_${DEAD}`],
    },
    {
      name: 'names of other schemes are not touched',
      databases: [db('kiln_tpl_old', idle(MAX_IDLE_MS * 9)), db('kiln_t_other')],
      drop: [],
    },
  ];
  for (const c of cases) {
    const got = staleTemplates({ databases: c.databases, current: CURRENT, alive: (pid) => pid === LIVE, now: NOW });
    assert.deepEqual(got, { drop: c.drop, stamp: c.stamp ?? [] }, c.name);
  }
});
