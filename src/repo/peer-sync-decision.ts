/**
 * The background repo sync between members (docs/adr/0017-repo-subset-between-members.md, amended): which peer's
 * published subset, if any, a member takes now. Each member records in the store what it serves (per suite, the
 * Release's Date and SHA-256: `member_cas.repo_releases`, migration 0484); a member takes a peer's subset when the
 * peer serves every suite its profiles name, none older than its own and at least one newer (or one it lacks), and
 * the peer's record has not failed too often lately. Pure.
 */

/** One suite as a member serves it: its Release's Date (ISO 8601, second resolution) and the Release's SHA-256. */
export interface PublishedRelease {
  suite: string;
  date: string;
  sha256: string;
}

/** A peer as the decision sees it: whether the store has its repo key and what it records serving (null: nothing). */
export interface PeerReleases {
  name: string;
  hasKey: boolean;
  releases: readonly PublishedRelease[] | null;
}

/** Failed syncs from one peer record (`recordKey`): how many, and the earliest time (ms) to try again. */
export interface SyncAttempt {
  failures: number;
  nextAt: number;
}

/** What to do now: sync from `peer` (its record named by `recordKey`), or nothing, with why for each peer skipped. */
export type PeerSyncDecision =
  { action: 'sync'; peer: string; recordKey: string } | { action: 'none'; skipped: { peer: string; reason: string }[] };

/** Failed syncs of one peer record before the member stops trying it (until the peer records another publication). */
export const MAX_SYNC_ATTEMPTS = 6;
/** The wait after the first failure; it doubles per failure up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 10 * 60_000;

/** The wait before the next attempt after `failures` failures (1 or more), in ms. */
export function backoffMs(failures: number): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
}

/** Names one peer publication: a new publication (another Release) starts its attempts afresh. */
export function recordKeyOf(peer: string, releases: readonly PublishedRelease[]): string {
  return `${peer}:${releases.map((r) => `${r.suite}=${r.sha256}`).join(',')}`;
}

/** Whether `peer` serves `suites` newer than `local` without rolling any back; the reason when not. */
export function compareReleases(
  suites: readonly string[],
  local: ReadonlyMap<string, PublishedRelease>,
  peer: readonly PublishedRelease[],
): { newer: true } | { newer: false; reason: string } {
  const theirs = new Map(peer.map((r) => [r.suite, r]));
  let newer = false;
  for (const suite of suites) {
    const p = theirs.get(suite);
    if (!p) return { newer: false, reason: `serves no suite ${suite}` };
    const mine = local.get(suite);
    if (!mine) newer = true;
    else if (Date.parse(p.date) < Date.parse(mine.date))
      return { newer: false, reason: `its ${suite} Release (${p.date}) is older than this member's (${mine.date})` };
    else if (Date.parse(p.date) > Date.parse(mine.date)) newer = true;
  }
  return newer ? { newer: true } : { newer: false, reason: 'serves nothing newer than this member' };
}

/** Decides the sync to run now; among peers that qualify, the one with the newest Release wins (then by name). */
export function decidePeerSync(o: {
  /** The suites this member's profiles name (empty: nothing to sync). */
  suites: readonly string[];
  local: ReadonlyMap<string, PublishedRelease>;
  peers: readonly PeerReleases[];
  attempts: ReadonlyMap<string, SyncAttempt>;
  now: number;
}): PeerSyncDecision {
  const skipped: { peer: string; reason: string }[] = [];
  const fit: { peer: string; recordKey: string; newest: number }[] = [];
  for (const p of o.peers) {
    if (!p.hasKey || !p.releases) {
      skipped.push({ peer: p.name, reason: p.hasKey ? 'records no published subset' : 'has no repo key in the store' });
      continue;
    }
    const cmp = compareReleases(o.suites, o.local, p.releases);
    if (!cmp.newer) {
      skipped.push({ peer: p.name, reason: cmp.reason });
      continue;
    }
    const recordKey = recordKeyOf(p.name, p.releases);
    const tried = o.attempts.get(recordKey);
    if (tried && tried.failures >= MAX_SYNC_ATTEMPTS) {
      skipped.push({ peer: p.name, reason: `gave up after ${tried.failures} failed syncs of this publication` });
      continue;
    }
    if (tried && o.now < tried.nextAt) {
      skipped.push({ peer: p.name, reason: `waiting ${Math.ceil((tried.nextAt - o.now) / 1000)} s after a failure` });
      continue;
    }
    const newest = Math.max(...p.releases.filter((r) => o.suites.includes(r.suite)).map((r) => Date.parse(r.date)));
    fit.push({ peer: p.name, recordKey, newest });
  }
  if (o.suites.length === 0 || fit.length === 0) return { action: 'none', skipped };
  fit.sort((a, b) => b.newest - a.newest || a.peer.localeCompare(b.peer));
  return { action: 'sync', peer: fit[0].peer, recordKey: fit[0].recordKey };
}

/** The store's `repo_releases` text read back; null when absent or not the shape a member writes. */
export function parseReleasesRecord(text: string | null | undefined): PublishedRelease[] | null {
  if (!text) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const out: PublishedRelease[] = [];
  for (const v of value as unknown[]) {
    const r = v as Partial<PublishedRelease> | null;
    if (
      typeof r?.suite !== 'string' ||
      typeof r.date !== 'string' ||
      !Number.isFinite(Date.parse(r.date)) ||
      typeof r.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(r.sha256)
    )
      return null;
    out.push({ suite: r.suite, date: r.date, sha256: r.sha256 });
  }
  return out;
}

/** The record a member writes: its suites in name order. */
export function formatReleasesRecord(releases: readonly PublishedRelease[]): string {
  return JSON.stringify(
    [...releases]
      .sort((a, b) => a.suite.localeCompare(b.suite))
      .map((r) => ({ suite: r.suite, date: r.date, sha256: r.sha256 })),
  );
}
