// Test support: which migrated template databases (`kiln_tpl_<hash>`, postgres.ts) are stale and may be dropped.
// Several checkouts (worktrees with other migration sets) share one PostgreSQL, so a template that is not this
// checkout's may be another's current one: it goes only once no one used it for MAX_IDLE_MS (each clone stamps its
// template's comment), no session is connected to it and no live test run on this machine was cloned from it. A
// test database (`kiln_t<pid>_…`) goes once its process is dead and no session is connected: a run killed before
// its `drop()` (a SIGKILL, a timeout) left it behind for good. Pure.

/** A template unused this long (by any checkout) is stale. */
export const MAX_IDLE_MS = 24 * 3600_000;

/** The comment a clone stamps on its template, and the one a prune puts on a template it sees unstamped. */
export const usedComment = (at: number) => `kiln test template, last used ${new Date(at).toISOString()}`;
/** The comment on a test database naming the template it was cloned from. */
export const clonedComment = (template: string) => `kiln test database from ${template}`;

const TEMPLATE = /^kiln_tpl_[0-9a-f]{16}$/;
/** A template being migrated by a process (postgres.ts names it `<template>_<pid>` until it renames it). */
const BUILDING = /^kiln_tpl_[0-9a-f]{16}_(\d+)$/;
/** A test database: `kiln_t<pid>_<tag>_<n>` (postgres.ts createTempPostgres). */
const TEST_DB = /^kiln_t(\d+)_/;

/** One database as the server lists it: its comment (pg_shdescription) and how many sessions are connected. */
export interface DatabaseRow {
  name: string;
  comment: string | null;
  connections: number;
}

/** Templates to drop and templates to stamp (seen for the first time without a stamp: their idle time starts now). */
export function staleTemplates(o: {
  databases: readonly DatabaseRow[];
  /** This checkout's template: never dropped. */
  current: string;
  alive: (pid: number) => boolean;
  now: number;
}): { drop: string[]; stamp: string[] } {
  const liveTests = o.databases.flatMap((d) => {
    const m = TEST_DB.exec(d.name);
    return m && o.alive(Number(m[1])) ? [d] : [];
  });
  // A live run from a checkout that does not name its template yet: any template may be its own; drop none.
  if (liveTests.some((d) => !d.comment?.startsWith(clonedComment('')))) return { drop: [], stamp: [] };
  const inUse = new Set(liveTests.map((d) => d.comment!.slice(clonedComment('').length)));
  const drop: string[] = [];
  const stamp: string[] = [];
  for (const d of o.databases) {
    if (d.name === o.current || d.connections > 0 || inUse.has(d.name)) continue;
    const test = TEST_DB.exec(d.name);
    if (test) {
      if (!o.alive(Number(test[1]))) drop.push(d.name);
      continue;
    }
    const building = BUILDING.exec(d.name);
    if (building) {
      if (!o.alive(Number(building[1]))) drop.push(d.name); // its process died in the middle of migrating it
      continue;
    }
    if (!TEMPLATE.test(d.name)) continue;
    const used = /last used (\S+)$/.exec(d.comment ?? '');
    const at = used ? Date.parse(used[1]) : NaN;
    if (!Number.isFinite(at)) stamp.push(d.name);
    else if (o.now - at > MAX_IDLE_MS) drop.push(d.name);
  }
  return { drop, stamp };
}
